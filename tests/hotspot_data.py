"""Small synthetic event tables for the hotspot tests (no generator needed).

Events are drawn from a fixed risk surface (a few hot spots on a low
background) so a model that learns the surface must beat recent counts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.hotspot.connect_source import CONNECT_SIGNALS

ORIGIN_X, ORIGIN_Y = 400_000, 280_000


def risk_surface(n: int = 24, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    surface = np.full((n, n), 0.02)
    for _ in range(5):
        cx, cy = rng.uniform(2, n - 2, 2)
        surface += rng.uniform(0.5, 1.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3.0)
    return surface


def synthetic_events(
    weeks: int = 130,
    n: int = 24,
    size: int = 250,
    start: date = date(2022, 1, 3),
    rate: float = 0.35,
    seed: int = 7,
    late_share: float = 0.05,
) -> pd.DataFrame:
    """Events over ``weeks`` weeks on an ``n`` x ``n`` grid of ``size`` m cells."""
    rng = np.random.default_rng(seed)
    surface = risk_surface(n, seed)
    lam = rate * surface / surface.mean() / 10
    rows = []
    for w in range(weeks):
        season = 1.0 + 0.3 * np.sin(2 * np.pi * w / 52)
        counts = rng.poisson(lam * season * 10)
        iy, ix = np.nonzero(counts)
        k = counts[iy, ix]
        ix, iy = np.repeat(ix, k), np.repeat(iy, k)
        m = len(ix)
        when = [datetime.combine(start + timedelta(weeks=w), datetime.min.time()) + timedelta(hours=float(h))
                for h in rng.uniform(0, 7 * 24, m)]
        lag_h = np.where(rng.random(m) < late_share, rng.uniform(14 * 24, 70 * 24, m), rng.uniform(1, 72, m))
        serious = rng.random(m) < 0.25
        knife = serious & (rng.random(m) < 0.3)
        for j in range(m):
            rows.append(
                {
                    "easting": ORIGIN_X + ix[j] * size + rng.integers(0, size),
                    "northing": ORIGIN_Y + iy[j] * size + rng.integers(0, size),
                    "event_time": when[j],
                    "known_time": when[j] + timedelta(hours=float(lag_h[j])),
                    "knife_injury": bool(knife[j]),
                    "serious_violence": bool(serious[j]),
                    "violence_with_injury": bool(rng.random() < 0.5),
                    "robbery": bool(rng.random() < 0.15),
                    "weapon_possession": bool(rng.random() < 0.1),
                    "related_lead": bool(rng.random() < 0.4),
                }
            )
    df = pd.DataFrame(rows)
    df.insert(0, "event_id", [f"E{i}" for i in range(len(df))])
    no_xy = rng.random(len(df)) < 0.01
    df["easting"] = df["easting"].astype("Int64")
    df["northing"] = df["northing"].astype("Int64")
    df.loc[no_xy, ["easting", "northing"]] = pd.NA
    return df


def truth_frame(n: int = 24, size: int = 250, weeks: int = 130, start: date = date(2022, 1, 3),
                rate: float = 0.35, seed: int = 7) -> pd.DataFrame:
    """The expected weekly counts of the surface above, shaped like the generator's truth."""
    surface = risk_surface(n, seed)
    lam = rate * surface / surface.mean() / 10
    iy, ix = np.mgrid[0:n, 0:n]
    ids = [f"{size}m_{ORIGIN_X + x * size}_{ORIGIN_Y + y * size}" for x, y in zip(ix.ravel(), iy.ravel(), strict=True)]
    frames = []
    for w in range(weeks):
        season = 1.0 + 0.3 * np.sin(2 * np.pi * w / 52)
        base = lam.ravel() * season * 10
        for target, share in (("serious_violence", 0.25), ("knife_injury", 0.075)):
            frames.append(pd.DataFrame({
                "target": target, "cell_id": ids,
                "period_start": start + timedelta(weeks=w), "expected_count": base * share,
            }))
    return pd.concat(frames, ignore_index=True)


def forecast_truth_frame(horizon: int = 4, **kwargs) -> pd.DataFrame:
    """The ceiling rows of the same truth: the expected count of the ``horizon`` weeks from each
    week (``window_periods = horizon``). The surface is not self-exciting, so the expectation
    given the past is just the sum of the weekly expected counts."""
    weekly = truth_frame(**kwargs)
    weekly["period_start"] = pd.to_datetime(weekly["period_start"])
    wide = weekly.pivot_table(index=["target", "cell_id"], columns="period_start", values="expected_count")
    summed = wide.T.rolling(horizon).sum().shift(-(horizon - 1)).T.dropna(axis=1, how="all")
    out = summed.stack().rename("expected_count").reset_index()
    out["period_start"] = out["period_start"].dt.date
    out["window_periods"] = horizon
    return out[["target", "cell_id", "period_start", "window_periods", "expected_count"]]


def asset_resources(root) -> dict:
    """Dagster resources for materialising the hotspot assets on a warehouse and folders under ``root``."""
    return {
        "warehouse": WarehouseResource(database_path=str(root / "wmp.duckdb")),
        "pipeline": PipelineSettingsResource(
            data_dir=str(root),
            duckdb_path=str(root / "wmp.duckdb"),
            landing_dir=str(root / "landing"),
            ground_truth_dir=str(root / "truth"),
            analyst_db_path=str(root / "analyst.duckdb"),
            artifacts_dir=str(root / "artifacts"),
            pseudonym_key="test-key",
        ),
    }


def int_crimes_frame(events: pd.DataFrame) -> pd.DataFrame:
    """The synthetic events in the shape of int_crimes__classified (the columns the hotspot reads)."""
    out = pd.DataFrame(
        {
            "crime_id": events["event_id"],
            "easting": events["easting"],
            "northing": events["northing"],
            "committed_from": events["event_time"],
            "recorded_at": events["known_time"],
            "lsoa_code": "E01000001",
        }
    )
    for signal, column in CONNECT_SIGNALS.items():
        out[column] = events[signal]
    return out
