"""Reading a briefing's HTML back in tests: its tables, images and outside references."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"header": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag):
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            if self._in_head:
                self.tables[-1]["header"] = self._row
            else:
                self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def png_images(html: str) -> list[bytes]:
    """The decoded bytes of every ``data:image/png;base64`` image."""
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def outside_references(html: str) -> list[str]:
    """Anything that would make the page fetch from outside the file."""
    found = re.findall(r'(?:src|href)\s*=\s*"((?:https?:)?//[^"]*)"', html)
    found += re.findall(r"<script\b|<link\b|@import|url\(", html)
    return found
