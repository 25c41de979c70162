"""Finding and reading police.uk street-level files as downloaded.

police.uk (https://data.police.uk/data/) publishes recorded crime and
anti-social behaviour as one CSV per force and month, named
``<YYYY-MM>-<force-slug>-street.csv`` (e.g. ``2021-09-south-yorkshire-street.csv``).
The archive download unpacks into one folder per month and also holds
``-outcomes.csv`` and ``-stop-and-search.csv`` files, so a folder is searched
recursively and only ``-street`` files are taken, plain or gzipped.

The file's identity is its *content*: :func:`read_street_file` hashes the
decompressed CSV bytes, so the same month delivered as ``.csv`` or as
``.csv.gz`` (or re-gzipped, which changes the gzip header) is recognised as
the same file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: The columns every police.uk street-level file has, in the published order.
STREET_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)

_NAME = re.compile(r"^(?P<month>\d{4}-(?:0[1-9]|1[0-2]))-(?P<force>[a-z0-9][a-z0-9-]*?)-street\.csv(?:\.gz)?$")


class PoliceUkFileError(ValueError):
    """A street-level file that cannot be loaded (unreadable, or not the police.uk layout)."""


@dataclass(frozen=True)
class StreetFile:
    path: Path
    #: ``YYYY-MM`` from the file name
    month: str
    #: force slug from the file name, e.g. ``south-yorkshire``
    force_slug: str

    @property
    def name(self) -> str:
        return self.path.name


def parse_street_file_name(name: str) -> tuple[str, str] | None:
    """``(month, force_slug)`` of a street-level file name, or None for any other file."""
    m = _NAME.match(name)
    return (m.group("month"), m.group("force")) if m else None


def find_street_files(folder: Path) -> list[StreetFile]:
    """Every street-level file under ``folder`` (recursively), by force, month and name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"police.uk folder {folder} does not exist")
    found = []
    for path in folder.rglob("*-street.csv*"):
        parsed = parse_street_file_name(path.name)
        if parsed and path.is_file():
            found.append(StreetFile(path=path, month=parsed[0], force_slug=parsed[1]))
    return sorted(found, key=lambda f: (f.force_slug, f.month, f.name))


def read_bytes(path: Path) -> bytes:
    """The CSV bytes of ``path``, decompressed when it is gzipped (by content, not by name)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise PoliceUkFileError(f"{Path(path).name}: not a readable gzip file ({exc})") from exc
    return raw


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_street_csv(data: bytes, name: str = "<file>") -> pd.DataFrame:
    """The rows of a street-level CSV as strings, empty cells as ``""``, standard columns only.

    Raises :class:`PoliceUkFileError` when a standard column is missing.
    """
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PoliceUkFileError(f"{name}: not a readable CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in STREET_COLUMNS if c not in frame.columns]
    if missing:
        raise PoliceUkFileError(f"{name}: not a police.uk street-level file, missing columns {missing}")
    return frame[list(STREET_COLUMNS)]


def read_street_file(path: Path) -> tuple[pd.DataFrame, str]:
    """``(rows, sha256 of the decompressed content)`` of one street-level file."""
    data = read_bytes(path)
    return parse_street_csv(data, Path(path).name), content_sha256(data)
