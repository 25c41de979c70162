"""Markdown for Dagster metadata, checks and the model card: tables and embedded PNG images.

One table writer for every asset, so a table reads the same wherever an
operator meets it: floats formatted, missing values shown as ``n/a`` (or as
given), pipes and line breaks escaped so a value cannot break the table.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Iterable

import pandas as pd


def cell(value: Any, floatfmt: str | None = "{:.3f}", missing: str = "n/a", max_chars: int | None = None) -> str:
    """One value as table text. ``floatfmt`` None prints floats as they are."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return missing
    if isinstance(value, float) and floatfmt is not None:
        text = floatfmt.format(value)
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 3] + "..."
    return text


def markdown_table(
    rows: pd.DataFrame | Iterable[dict] | None,
    floatfmt: str | None = "{:.3f}",
    max_rows: int | None = None,
    missing: str = "n/a",
    max_chars: int | None = None,
) -> str:
    """A GitHub-style table of a DataFrame or a list of dicts (``_none_`` when empty).

    With ``max_rows`` only the first rows are shown and a line says how many
    were left out.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    if frame.empty:
        return "_none_"
    shown = frame if max_rows is None else frame.head(max_rows)
    fmt = dict(floatfmt=floatfmt, missing=missing, max_chars=max_chars)
    lines = ["| " + " | ".join(cell(str(c), **fmt) for c in shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(cell(v, **fmt) for v in row) + " |" for row in shown.itertuples(index=False)]
    if max_rows is not None and len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows:,} more row(s) not shown_")
    return "\n".join(lines)


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that embeds PNG bytes (Dagster shows it inline in the metadata)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
