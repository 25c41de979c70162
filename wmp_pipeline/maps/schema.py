"""The schema of the GIS and CSV exports: one list per export, the single source
for docs/exports.md (a test keeps the two in step) and the GeoPackage's layer description.

Each column: (name, type, unit, meaning). The exports hold exactly the columns
of the analyst tables they come from (``hotspot_predictions``,
``iom_risk_scores``), in the same order.
"""

from __future__ import annotations

from wmp_pipeline.hotspot.predictions import PREDICTION_COLUMNS
from wmp_pipeline.iom.scoring import RISK_SCORE_COLUMNS

HOTSPOT_SCHEMA: tuple[tuple[str, str, str, str], ...] = (
    ("target", "text", "-", "what is forecast: knife_injury (knife crime used causing injury) or serious_violence"),
    ("forecast_week", "date", "day", "the forecast date (a Monday): first day of the 28-day forecast window"),
    ("forecast_window_end", "date", "day", "last day of the forecast window (forecast_week + 27 days)"),
    ("cell_id", "text", "-", "grid cell id '<size>m_<x0>_<y0>' (lower-left corner, BNG metres), or the LSOA code for LSOA units"),
    ("cell_size_m", "integer", "metres", "side of the target's square cell (1000 knife injury, 707 serious violence by default; 0 = LSOA units)"),
    ("geometry_wkt", "text", "BNG metres (EPSG:27700)", "the cell's polygon as WKT (the layer geometry holds the same shape)"),
    ("lsoa_code", "text", "-", "LSOA (2021) covering most of the cell"),
    ("predicted_count", "real", "crimes", "expected number of the target's crimes in the cell over the forecast window"),
    ("prob_at_least_one", "real", "probability 0-1", "P(at least one such crime in the window) = 1 - exp(-predicted_count)"),
    ("rank", "integer", "-", "1 = highest predicted_count of the force area (ties by cell_id)"),
    ("rank_last_week", "integer", "-", "the rank the same model gave the cell a week earlier, on the data known then"),
    ("rank_change", "integer", "places", "rank_last_week - rank: positive = moved up since last week"),
    ("in_top_n", "boolean", "-", "among the top cells covering 1% of the force area (the map's outlined cells)"),
    ("count_last_4_weeks", "integer", "crimes", "the target's crimes in the cell in the 4 weeks before the forecast date, as recorded by then"),
    ("count_last_52_weeks", "integer", "crimes", "the same over the 52 weeks before the forecast date"),
    ("model_version", "text", "-", "the saved model that made the forecast (target, fit date, config fingerprint)"),
)

IOM_SCHEMA: tuple[tuple[str, str, str, str], ...] = (
    ("offender_key", "text", "-", "pseudonymised offender key (keyed hash; the person id never leaves the working database)"),
    ("week", "date", "day", "the scoring week (a Monday): the forecast date the list is for"),
    ("harm_score", "real", "days of imprisonment", "harm of the offences charged in the last 12 months (Cambridge Crime Harm Index style)"),
    ("band", "text", "-", "harm band: low, low_medium, high_medium, high, super_high"),
    ("probability", "real", "probability 0-1", "calibrated probability of reaching high harm within the model's horizon (empty for high/super high)"),
    ("rank", "integer", "-", "review order: low-medium band first, then by probability (empty for high/super high)"),
    ("reason_1", "text", "-", "the feature that raised this person's probability most"),
    ("reason_2", "text", "-", "the second"),
    ("reason_3", "text", "-", "the third"),
    ("model_version", "text", "-", "the saved IOM model that scored the week"),
    ("horizon_weeks", "integer", "weeks", "the horizon the probability is over (52 = 12 months after the week)"),
)

assert [c[0] for c in HOTSPOT_SCHEMA] == PREDICTION_COLUMNS, "HOTSPOT_SCHEMA must follow hotspot_predictions"
assert [c[0] for c in IOM_SCHEMA] == RISK_SCORE_COLUMNS, "IOM_SCHEMA must follow iom_risk_scores"


def markdown(schema) -> str:
    """The schema as a markdown table (as in docs/exports.md)."""
    lines = ["| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{n}` | {t} | {u} | {m} |" for n, t, u, m in schema]
    return "\n".join(lines)
