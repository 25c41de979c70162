"""The analyst table: one row per unit and target for the latest forecast date.

``predicted_count`` is the model's expected number of target events in the
unit over the horizon (28 days). ``prob_at_least_one`` reads it as the mean
of a Poisson count: ``1 - exp(-predicted_count)``. ``rank`` orders units by
``predicted_count`` (1 = highest; ties by ``cell_id`` so the order is
stable); ``in_top_n`` flags the top ``ceil(top_share x units)`` units, i.e.
the top 1 % of the force area by default (153 cells of 250 m on the
generator's force preset).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from wmp_pipeline.hotspot.config import HotspotConfig

PREDICTION_COLUMNS = [
    "target",
    "forecast_week",
    "cell_id",
    "geometry_wkt",
    "lsoa_code",
    "predicted_count",
    "prob_at_least_one",
    "rank",
    "in_top_n",
    "model_version",
]


def prob_at_least_one(mu) -> np.ndarray:
    """P(N >= 1) for N ~ Poisson(mu)."""
    mu = np.clip(np.asarray(mu, dtype="float64"), 0.0, None)
    return -np.expm1(-mu)


def top_n(n_units: int, cfg: HotspotConfig) -> int:
    """How many units ``in_top_n`` flags."""
    return max(1, math.ceil(cfg.top_share * n_units))


def prediction_table(
    scores: pd.DataFrame,
    cells: pd.DataFrame,
    cfg: HotspotConfig,
    target: str,
    forecast_date,
    model_version: str,
) -> pd.DataFrame:
    """Rank ``scores`` (``cell_id, predicted_count``) into the analyst table's rows."""
    area = cells[cells["in_force_area"]][["cell_id", "geometry_wkt", "lsoa_code"]]
    df = area.merge(scores[["cell_id", "predicted_count"]], on="cell_id", how="left")
    if df["predicted_count"].isna().any():
        raise ValueError(f"{int(df['predicted_count'].isna().sum())} units of the force area have no prediction")
    df = df.sort_values(["predicted_count", "cell_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1, dtype="int64")
    df["in_top_n"] = df["rank"] <= top_n(len(df), cfg)
    df["prob_at_least_one"] = prob_at_least_one(df["predicted_count"])
    df["predicted_count"] = df["predicted_count"].astype("float64")
    df["target"] = target
    df["forecast_week"] = pd.Timestamp(forecast_date).date()
    df["model_version"] = model_version
    return df[PREDICTION_COLUMNS]
