"""The analyst table: one row per unit and target for the latest forecast date.

``predicted_count`` is the model's expected number of target events in the
unit over the horizon (28 days). ``prob_at_least_one`` reads it as the mean
of a Poisson count: ``1 - exp(-predicted_count)``. ``rank`` orders units by
``predicted_count`` (1 = highest; ties by ``cell_id`` so the order is
stable); ``in_top_n`` flags the top ``ceil(top_share x units)`` units, i.e.
the top 1 % of the force area by default. ``rank_last_week`` is the rank the
same model gave the unit one period earlier, on the data known then, so
``rank_change`` (``rank_last_week - rank``; positive = moved up) shows what
the newest week of data changed. ``count_last_4_weeks`` and
``count_last_52_weeks`` are the target's crimes in the unit over the last 4
and 52 periods known before the forecast date (the panel's own features).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from wmp_pipeline.hotspot.config import HotspotConfig

PREDICTION_COLUMNS = [
    "target",
    "forecast_week",
    "forecast_window_end",
    "cell_id",
    "cell_size_m",
    "geometry_wkt",
    "lsoa_code",
    "predicted_count",
    "prob_at_least_one",
    "rank",
    "rank_last_week",
    "rank_change",
    "in_top_n",
    "count_last_4_weeks",
    "count_last_52_weeks",
    "model_version",
]


def prob_at_least_one(mu) -> np.ndarray:
    """P(N >= 1) for N ~ Poisson(mu)."""
    mu = np.clip(np.asarray(mu, dtype="float64"), 0.0, None)
    return -np.expm1(-mu)


def top_n(n_units: int, cfg: HotspotConfig) -> int:
    """How many units ``in_top_n`` flags."""
    return max(1, math.ceil(cfg.top_share * n_units))


def ranks(scores: pd.DataFrame) -> pd.Series:
    """Rank (1 = highest ``predicted_count``, ties by ``cell_id``) indexed by ``cell_id``."""
    order = scores.sort_values(["predicted_count", "cell_id"], ascending=[False, True], kind="mergesort")
    return pd.Series(np.arange(1, len(order) + 1, dtype="int64"), index=order["cell_id"].to_numpy())


def prediction_table(
    scores: pd.DataFrame,
    cells: pd.DataFrame,
    cfg: HotspotConfig,
    target: str,
    forecast_date,
    model_version: str,
    previous: pd.DataFrame | None = None,
    recent: pd.DataFrame | None = None,
    window_end=None,
) -> pd.DataFrame:
    """Rank ``scores`` (``cell_id, predicted_count``) into the analyst table's rows.

    ``previous``: the same model's ``cell_id, predicted_count`` one period
    earlier (gives ``rank_last_week``); ``recent``: ``cell_id,
    count_last_4_weeks, count_last_52_weeks``; ``window_end``: the last day
    of the forecast window. Missing ones leave their columns null.
    """
    area = cells[cells["in_force_area"]][["cell_id", "cell_size_m", "geometry_wkt", "lsoa_code"]]
    df = area.merge(scores[["cell_id", "predicted_count"]], on="cell_id", how="left")
    if df["predicted_count"].isna().any():
        raise ValueError(f"{int(df['predicted_count'].isna().sum())} units of the force area have no prediction")
    rank = ranks(df)
    df["rank"] = df["cell_id"].map(rank).astype("int64")
    df = df.sort_values("rank", kind="mergesort").reset_index(drop=True)
    df["in_top_n"] = df["rank"] <= top_n(len(df), cfg)
    df["prob_at_least_one"] = prob_at_least_one(df["predicted_count"])
    df["predicted_count"] = df["predicted_count"].astype("float64")
    if previous is not None and len(previous):
        before = ranks(area[["cell_id"]].merge(previous[["cell_id", "predicted_count"]], on="cell_id", how="inner"))
        df["rank_last_week"] = df["cell_id"].map(before).astype("Int64")
    else:
        df["rank_last_week"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["rank_change"] = (df["rank_last_week"] - df["rank"]).astype("Int64")
    for col in ("count_last_4_weeks", "count_last_52_weeks"):
        if recent is not None and col in recent:
            df[col] = df["cell_id"].map(recent.set_index("cell_id")[col]).round().astype("Int64")
        else:
            df[col] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["cell_size_m"] = df["cell_size_m"].astype("int64")
    df["target"] = target
    df["forecast_week"] = pd.Timestamp(forecast_date).date()
    df["forecast_window_end"] = pd.Timestamp(window_end).date() if window_end is not None else pd.NaT
    df["model_version"] = model_version
    return df[PREDICTION_COLUMNS]
