"""What the hotspot assets check and report, as plain functions (no Dagster).

The assets in :mod:`wmp_pipeline.defs.hotspot.assets` call these and only
turn the results into Dagster metadata and check results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.panel import PanelInfo


@dataclass
class CheckOutcome:
    passed: bool
    metadata: dict = field(default_factory=dict)


def check_cells(cells: pd.DataFrame, cfg: HotspotConfig) -> CheckOutcome:
    """Cell ids unique, grid corners on multiples of their own cell size, every grid non-empty."""
    area = cells[cells["in_force_area"]]
    dup = int(cells["cell_id"].duplicated().sum())
    misaligned = 0
    if cfg.unit == "grid":
        size = cells["cell_size_m"].astype("int64")
        misaligned = int(((cells["x0"] % size) != 0).sum() + ((cells["y0"] % size) != 0).sum())
    per_grid = area.groupby("cell_size_m").size().reindex(list(cfg.grids()), fill_value=0)
    return CheckOutcome(
        passed=dup == 0 and misaligned == 0 and bool((per_grid > 0).all()),
        metadata={"duplicate_ids": dup, "misaligned_corners": misaligned,
                  **{f"units_in_area_{size}m": int(n) for size, n in per_grid.items()}},
    )


def cells_summary(cells: pd.DataFrame, cfg: HotspotConfig) -> pd.DataFrame:
    """One row per grid: its targets, cell size, units in the area and area in km²."""
    rows = []
    for size, targets in cfg.grids().items():
        grid = cells[cells["cell_size_m"] == size]
        area = grid[grid["in_force_area"]]
        rows.append({
            "targets": ", ".join(targets),
            "cell_size_m": size,
            "units_in_force_area": len(area),
            "units_outside_with_crimes": int(len(grid) - len(area)),
            "area_km2": round(float(area["area_m2"].sum()) / 1e6, 1),
            "units_with_lsoa": int(area["lsoa_code"].notna().sum()),
        })
    return pd.DataFrame(rows)


def panel_nonfinite(con: duckdb.DuckDBPyConnection, info: PanelInfo) -> int:
    """Feature values that are null or NaN in the panel."""
    finite = " + ".join(f"CASE WHEN isnan({c}) OR {c} IS NULL THEN 1 ELSE 0 END" for c in info.features)
    return int(con.execute(f"SELECT coalesce(sum({finite}), 0) FROM {info.table}").fetchall()[0][0])


def check_panel(con: duckdb.DuckDBPyConnection, info: PanelInfo) -> CheckOutcome:
    """Every unit has a row in every period, and no feature is null or NaN."""
    periods = info.as_of_period - info.first_period + 1
    bad = panel_nonfinite(con, info)
    expected = info.n_units * periods
    return CheckOutcome(
        passed=bool(info.n_rows == expected and bad == 0),
        metadata={"rows": info.n_rows, "expected_rows": expected, "null_or_nan_features": bad},
    )


def units_per_target(con: duckdb.DuckDBPyConnection, cfg: HotspotConfig, cells_table: str) -> dict[str, int]:
    """Units of the force area on each target's grid."""
    counts = dict(con.execute(f"SELECT cell_size_m, count(*) FROM {cells_table} WHERE in_force_area GROUP BY 1").fetchall())
    return {t: int(counts.get(cfg.cell_size_for(t), 0)) for t in cfg.targets}


def check_one_row_per_unit(table: pd.DataFrame, units: dict[str, int]) -> tuple[CheckOutcome, pd.DataFrame]:
    """Each target has one row per unit of its grid's force area."""
    per = table.groupby("target")["cell_id"].agg(["size", "nunique"]).reindex(list(units), fill_value=0)
    per["units_in_area"] = pd.Series(units)
    ok = bool(((per["size"] == per["units_in_area"]) & (per["nunique"] == per["units_in_area"])).all())
    return CheckOutcome(ok, {}), per.reset_index()


def check_predictions_in_range(table: pd.DataFrame) -> CheckOutcome:
    ok = bool(
        table["predicted_count"].notna().all()
        and (table["predicted_count"] >= 0).all()
        and table["prob_at_least_one"].between(0, 1).all()
    )
    return CheckOutcome(ok, {"rows": len(table)})


def predictions_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per target: cell size, units, expected total, top-N units and what they are expected to hold."""
    top = table[table["in_top_n"]]
    summary = (
        table.groupby("target")
        .agg(cell_size_m=("cell_size_m", "first"), units=("cell_id", "size"),
             expected_total=("predicted_count", "sum"), top_n=("in_top_n", "sum"))
        .reset_index()
    )
    summary["expected_in_top_n"] = top.groupby("target")["predicted_count"].sum().reindex(summary["target"]).to_numpy()
    return summary


def model_rows(models: dict, retrained: dict[str, bool]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per target's model, and each model's top features by share of total gain."""
    rows, importance = [], {}
    for target, m in models.items():
        rows.append({
            "target": target,
            "version": m.version,
            "fit_date": m.fit_date.isoformat(),
            "retrained_now": retrained[target],
            "train_rows": m.n_train_rows,
            "train_seconds": round(m.train_seconds, 1),
        })
        gain = m.booster.get_score(importance_type="total_gain")
        total = sum(gain.values()) or 1.0
        top = sorted(gain.items(), key=lambda kv: -kv[1])[:8]
        importance[target] = ", ".join(f"{k} {v / total:.0%}" for k, v in top)
    return pd.DataFrame(rows), importance
