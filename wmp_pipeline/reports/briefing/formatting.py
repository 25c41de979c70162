"""Table cells of the briefing (rank change, harm trend, band labels).

Plain values are formatted by :mod:`wmp_pipeline.reports.formatting`, shared with the transparency record."""

from __future__ import annotations

import math

from wmp_pipeline.harm.bands import BAND_LABELS
from wmp_pipeline.reports.briefing.model import Cell


def rank_change_cell(rank: int, previous: float | None, have_previous: bool) -> Cell:
    """The change in rank since last week, as a table cell ("▲ 3" = moved up 3 places)."""
    if not have_previous:
        return Cell("–", "muted")
    if previous is None or (isinstance(previous, float) and math.isnan(previous)):
        return Cell("new", "new")
    delta = int(previous) - int(rank)
    if delta > 0:
        return Cell(f"▲ {delta}", "up")
    if delta < 0:
        return Cell(f"▼ {-delta}", "down")
    return Cell("=", "muted")


def harm_trend_cell(now: float | None, before: float | None) -> Cell:
    """Harm score 13 weeks ago → now, with an arrow (rising harm is what managers look for)."""
    if now is None or (isinstance(now, float) and math.isnan(now)):
        return Cell("–", "muted")
    if before is None or (isinstance(before, float) and math.isnan(before)):
        return Cell(f"{now:,.0f} (no earlier score)", "muted")
    if now > before:
        return Cell(f"▲ {before:,.0f} → {now:,.0f}", "down")
    if now < before:
        return Cell(f"▼ {before:,.0f} → {now:,.0f}", "up")
    return Cell(f"= {now:,.0f}", "muted")


def _band_label(code) -> str:
    return BAND_LABELS.get(str(code), str(code))


# --------------------------------------------------------------------------- hotspots
