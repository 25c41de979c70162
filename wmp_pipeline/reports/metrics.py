"""The models' latest backtest results, read the same way by the briefing and the record.

Both tables keep the rows of many runs (one per week the backtest ran); a
report for forecast date ``d`` shows the newest run made on or before ``d``,
so re-running an old week reproduces what was known then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from wmp_pipeline import tables
from wmp_pipeline.reports.tables import Unavailable, query, require

BACKTEST = tables.HOTSPOT_BACKTEST_METRICS
IOM_METRICS = tables.IOM_MODEL_METRICS
FAIRNESS = tables.IOM_FAIRNESS_AUDIT
#: area shares the reports show (when the backtest has them)
REPORT_SHARES = (0.01, 0.05)


@dataclass
class HotspotBacktest:
    #: one row per target, model and area share, pooled over the run's forecast dates
    overall: pd.DataFrame
    #: one row per target, model, area share and forecast date (may be empty)
    per_origin: pd.DataFrame
    shares: list[float]
    run_id: str
    first_origin: date | None
    last_origin: date | None
    n_origins: int


@dataclass
class IomMetrics:
    #: model x metric, mean over the run's test weeks
    wide: pd.DataFrame
    run_id: str
    first_week: date | None
    last_week: date | None
    n_weeks: int


def latest_run(df: pd.DataFrame, date_col: str) -> pd.DataFrame:
    """Rows of the newest run (by ``date_col``, then ``run_id``); all rows if there is no ``run_id``."""
    if "run_id" not in df or df.empty:
        return df
    if date_col in df and df[date_col].notna().any():
        last = df.dropna(subset=[date_col]).sort_values([date_col, "run_id"]).iloc[-1]["run_id"]
    else:
        last = sorted(df["run_id"].astype(str))[-1]
    return df[df["run_id"] == last]


def _as_date(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce").dt.date


def _latest_run_as_of(
    con: duckdb.DuckDBPyConnection, table: str, needed: list[str], date_column: str, forecast_date: date
) -> pd.DataFrame | Unavailable:
    """The newest run's rows of ``table`` dated on or before the forecast date (undated rows kept)."""
    missing = require(con, table, needed)
    if missing:
        return missing
    df = query(con, f"select * from {table}")
    if date_column in df:
        df[date_column] = _as_date(df[date_column])
        df = df[df[date_column].isna() | (df[date_column] <= forecast_date)]
    return latest_run(df, date_column)


def hotspot_backtest(con: duckdb.DuckDBPyConnection, forecast_date: date) -> HotspotBacktest | Unavailable:
    df = _latest_run_as_of(con, BACKTEST, ["target", "model", "area_share", "hit_rate", "pai"], "as_of_date", forecast_date)
    if isinstance(df, Unavailable):
        return df
    if df.empty:
        return Unavailable(f"Not available this week: no hotspot backtest run on or before {forecast_date}.")
    if "forecast_date" in df:
        df = df.assign(forecast_date=_as_date(df["forecast_date"]))
    per_origin = df[df["scope"] == "origin"] if "scope" in df else df
    overall = df[df["scope"] == "overall"] if "scope" in df else pd.DataFrame()
    if overall.empty:
        overall = per_origin.groupby(["target", "model", "area_share"], as_index=False)[["hit_rate", "pai"]].mean()
    have = sorted(overall["area_share"].unique())
    shares = [s for s in have if any(math.isclose(s, w) for w in REPORT_SHARES)] or have[:2]
    origins = per_origin["forecast_date"].dropna() if "forecast_date" in per_origin else pd.Series(dtype=object)
    return HotspotBacktest(
        overall=overall.reset_index(drop=True),
        per_origin=per_origin.reset_index(drop=True),
        shares=[float(s) for s in shares],
        run_id=str(df["run_id"].iloc[0]) if "run_id" in df else "",
        first_origin=min(origins) if len(origins) else None,
        last_origin=max(origins) if len(origins) else None,
        n_origins=int(origins.nunique()),
    )


def at_share(df: pd.DataFrame, share: float) -> pd.DataFrame:
    return df[df["area_share"].map(lambda v: math.isclose(float(v), share))]


def is_model(name: str) -> bool:
    """The fitted model (as opposed to a baseline or the evaluation ceiling)."""
    return name.startswith("xgboost") or name == "model"


def is_ceiling(name: str) -> bool:
    return "ceiling" in name


#: IOM metrics in the order the reports show them (others follow, by name)
PREFERRED_METRICS = (
    "roc_auc", "pr_auc", "brier", "precision_at_100", "precision_at_250", "precision_at_500",
    "recall_at_100", "recall_at_250", "recall_at_500", "base_rate",
)


def iom_metrics(con: duckdb.DuckDBPyConnection, forecast_date: date, max_metrics: int = 10) -> IomMetrics | Unavailable:
    """The newest IOM backtest: mean of each metric over the test weeks, per model.

    Rows without a ``test_week`` (pooled means some writers add) are used
    only when there are no weekly rows."""
    df = _latest_run_as_of(con, IOM_METRICS, ["model", "metric", "value"], "test_week", forecast_date)
    if isinstance(df, Unavailable):
        return df
    df = df.assign(value=pd.to_numeric(df["value"], errors="coerce")).dropna(subset=["value"])
    if df.empty:
        return Unavailable(f"Not available this week: no IOM model metrics on or before {forecast_date}.")
    weekly = df[df["test_week"].notna()] if "test_week" in df else df
    if weekly.empty:  # only pooled rows
        weekly = df
    wide = weekly.groupby(["model", "metric"], as_index=False)["value"].mean().pivot(index="model", columns="metric", values="value")
    rank = {m: i for i, m in enumerate(PREFERRED_METRICS)}
    columns = sorted(wide.columns, key=lambda m: (rank.get(m, len(rank)), m))
    wide = wide[columns[:max_metrics]]
    order = sorted(wide.index, key=lambda m: (0 if ("xgb" in m or m == "model") else 1, m))
    weeks = df["test_week"].dropna() if "test_week" in df else pd.Series(dtype=object)
    return IomMetrics(
        wide=wide.loc[order],
        run_id=str(df["run_id"].iloc[0]) if "run_id" in df else "",
        first_week=min(weeks) if len(weeks) else None,
        last_week=max(weeks) if len(weeks) else None,
        n_weeks=int(weeks.nunique()),
    )


FAIRNESS_COLUMNS = (
    "attribute", "group", "n", "base_rate", "selection_rate", "fpr", "fnr", "ppv", "auc", "observed_expected", "flags",
)


def fairness_table(con: duckdb.DuckDBPyConnection, forecast_date: date) -> pd.DataFrame | Unavailable:
    """The latest IOM fairness audit: one row per attribute and group."""
    missing = require(con, FAIRNESS, ["group", "n"])
    if missing:
        return missing
    df = query(con, f"select * from {FAIRNESS}")
    for col in ("week", "test_week", "as_of_date", "snapshot_date"):
        if col in df:
            df[col] = _as_date(df[col])
            df = df[df[col].isna() | (df[col] <= forecast_date)]
            df = latest_run(df, col) if "run_id" in df else df[df[col] == df[col].max()] if df[col].notna().any() else df
            break
    else:
        df = latest_run(df, "")
    cols = [c for c in FAIRNESS_COLUMNS if c in df]
    if df.empty:
        return Unavailable(f"Not available this week: no IOM fairness audit on or before {forecast_date}.")
    return df[cols].reset_index(drop=True)
