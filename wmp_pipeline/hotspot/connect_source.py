"""CONNECT as a source for the hotspot engine, and the generator's truth.

The engine's events come from ``int_crimes__classified`` (active crimes
only: cancelled "no crime" decisions are already left out there), one row
per crime:

* placed in space by ``easting``/``northing`` (crimes without them are
  counted and reported by the panel, never placed);
* placed in time by ``committed_from``, the earliest time the crime may have
  happened: the pattern to forecast is where and when violence happens, and
  recording lags (days for most crimes, months for some) would smear it;
* known from ``recorded_at``: a feature at forecast date ``d`` only counts
  crimes recorded before ``d``.

The crime's location and classification are its current state (the newest
CONNECT version). For the live forecast that is exactly what was known at
the forecast date; for past backtest dates a later relocation or
reclassification is seen slightly early (see docs/hotspot.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import pandas as pd

SOURCE_MODEL = "int_crimes__classified"
EVENTS_VIEW = "hotspot_events"

#: engine signal name -> int_crimes__classified column
CONNECT_SIGNALS = {
    "knife_injury": "is_knife_injury",
    "serious_violence": "is_serious_violence",
    "violence_with_injury": "is_violence_with_injury",
    "robbery": "is_robbery",
    "weapon_possession": "is_weapon_possession",
    "related_lead": "is_related_lead",
}

#: the generator's weekly truth (one-period rows: the diagnostic only)
TRUTH_FILE = "hotspot_truth.parquet"
#: the generator's 28-day forecast truth: the ceiling
FORECAST_TRUTH_FILE = "hotspot_forecast_truth.parquet"


def events_sql(source: str = SOURCE_MODEL) -> str:
    """SELECT that shapes ``source`` as the engine's events relation."""
    signals = ",\n       ".join(f"coalesce({col}, false) AS {sig}" for sig, col in CONNECT_SIGNALS.items())
    return f"""
SELECT crime_id AS event_id,
       easting, northing,
       committed_from AS event_time,
       recorded_at AS known_time,
       lsoa_code,
       {signals}
FROM {source}
"""


def create_events_view(con: duckdb.DuckDBPyConnection, source: str = SOURCE_MODEL, name: str = EVENTS_VIEW) -> str:
    """A temporary view of the CONNECT events for this connection; returns its name."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {events_sql(source)}")
    return name


def load_truth(ground_truth_dir: Path | None, weekly: bool = False) -> pd.DataFrame | None:
    """The generator's hotspot truth as the engine's truth frame, or None.

    Evaluation only: the backtest's ceiling. Never a feature or a label.
    The rows of ``hotspot_forecast_truth.parquet`` (``window_periods`` = its
    ``horizon_weeks``: the ceiling) and, with ``weekly``, those of
    ``hotspot_truth.parquet`` (``window_periods`` = 1: only for the
    ``ceiling_diag_summed_weekly`` diagnostic).
    """
    if ground_truth_dir is None:
        return None
    folder = Path(ground_truth_dir)
    frames = []
    if (folder / FORECAST_TRUTH_FILE).exists():
        fc = pd.read_parquet(
            folder / FORECAST_TRUTH_FILE, columns=["target", "cell_id", "forecast_date", "horizon_weeks", "expected_count"]
        )
        frames.append(fc.rename(columns={"forecast_date": "period_start", "horizon_weeks": "window_periods"}))
    elif (folder / TRUTH_FILE).exists():
        warnings.warn(
            f"{folder} holds {TRUTH_FILE} but no {FORECAST_TRUTH_FILE} (an older generator): no ceiling; "
            "regenerate the data for it",
            stacklevel=2,
        )
    if weekly and (folder / TRUTH_FILE).exists():
        wk = pd.read_parquet(folder / TRUTH_FILE, columns=["target", "cell_id", "week_start", "expected_count"])
        frames.append(wk.rename(columns={"week_start": "period_start"}).assign(window_periods=1))
    if not frames:
        return None
    for col in ("target", "cell_id"):
        cats = pd.Index(sorted(set().union(*(f[col].astype("category").cat.categories for f in frames))))
        for f in frames:
            f[col] = f[col].astype(pd.CategoricalDtype(cats))
    truth = pd.concat(frames, ignore_index=True)
    truth["window_periods"] = truth["window_periods"].astype("int64")
    truth["period_start"] = pd.to_datetime(truth["period_start"]).dt.date
    return truth
