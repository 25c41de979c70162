"""Hotspot assets: cells, weekly panel, models, backtest and the analyst predictions.

Thin wrappers over :mod:`wmp_pipeline.hotspot.runner`; each adds Dagster
metadata (counts, markdown tables, the map as an embedded PNG) and the
checks that sit next to what they check.
"""


import math

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from wmp_pipeline.defs.partitions import forecast_date_of, force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.hotspot import runner
from wmp_pipeline.hotspot.backtest import summary_table
from wmp_pipeline.hotspot.config import HotspotConfig
from wmp_pipeline.hotspot.connect_source import SOURCE_MODEL, load_truth
from wmp_pipeline.markdown import markdown_table as md_table
from wmp_pipeline.markdown import png_markdown
from wmp_pipeline.hotspot.panel import describe_periods
from wmp_pipeline.progress import Progress

GROUP = "hotspot"
CELLS = AssetKey("hotspot_cells")
PANEL = AssetKey("hotspot_panel")
MODELS = AssetKey("hotspot_models")
BACKTEST = AssetKey("hotspot_backtest")
PREDICTIONS = AssetKey("hotspot_predictions")


class HotspotCellsConfig(Config):
    """Spatial units. Without a boundary file (WMP_BOUNDARY_FILE) the area is the
    data's footprint: cells within ``footprint_buffer_m`` of a cell with a crime."""

    unit: str = "grid"
    #: default: the force's grid size in the registry (250 m for the embedded force)
    cell_size_m: int | None = None
    footprint_buffer_m: float = 500.0


class HotspotPanelConfig(Config):
    """How many weeks to backtest over and to train on (sets how far back the panel reaches)."""

    backtest_weeks: int = 52
    train_weeks: int = 104


#: Retraining cadence of the hotspot models, in weeks; the backtest reruns on the same weeks.
RETRAIN_EVERY_WEEKS = 4


class HotspotModelsConfig(Config):
    """Retrain when the newest model is this many weeks old (0 = every week)."""

    retrain_every_weeks: int = RETRAIN_EVERY_WEEKS
    force_retrain: bool = False


class HotspotBacktestConfig(Config):
    """The backtest refits the model every ``refit_every_weeks`` forecast weeks.

    It reruns only in the weeks the hotspot models retrain (``retrain_every_weeks``,
    the same cadence as hotspot_models; 0 = every week), when its configuration
    changed or none is stored, or with ``force_rerun``; in other weeks the newest
    stored backtest is reused.
    """

    refit_every_weeks: int = 13
    retrain_every_weeks: int = RETRAIN_EVERY_WEEKS
    force_rerun: bool = False


@asset(
    key=CELLS,
    group_name=GROUP,
    kinds={"python", "duckdb", "geopandas"},
    deps=[AssetKey(SOURCE_MODEL)],
    partitions_def=force_week_partitions,
    description="Square British National Grid cells (default 250 m) covering the force area, with their LSOA.",
    check_specs=[AssetCheckSpec("cell_ids_unique_and_aligned", asset=CELLS)],
)
def hotspot_cells(
    context: AssetExecutionContext,
    config: HotspotCellsConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    settings = pipeline.settings()
    cell_size = config.cell_size_m or pipeline.force().grid_cell_size_m
    cfg = HotspotConfig.weekly(unit=config.unit, cell_size_m=cell_size, footprint_buffer_m=config.footprint_buffer_m)
    with warehouse.connect() as con:
        cells = runner.build_cells_table(con, cfg, settings.boundary_file)
    area = cells[cells["in_force_area"]]
    dup = int(cells["cell_id"].duplicated().sum())
    misaligned = 0
    if cfg.unit == "grid":
        misaligned = int(((cells["x0"] % cfg.cell_size_m) != 0).sum() + ((cells["y0"] % cfg.cell_size_m) != 0).sum())
    return MaterializeResult(
        metadata={
            "units_in_force_area": len(area),
            "units_outside_with_crimes": int(len(cells) - len(area)),
            "area_km2": round(float(area["area_m2"].sum()) / 1e6, 1),
            "unit": cfg.unit,
            "cell_size_m": cfg.cell_size_m,
            "area_rule": "boundary file" if settings.boundary_file else f"footprint of crimes + {cfg.footprint_buffer_m:g} m",
            "units_with_lsoa": int(area["lsoa_code"].notna().sum()),
        },
        check_results=[
            AssetCheckResult(
                check_name="cell_ids_unique_and_aligned",
                passed=dup == 0 and misaligned == 0 and len(area) > 0,
                metadata={"duplicate_ids": dup, "misaligned_corners": misaligned, "units_in_area": len(area)},
            )
        ],
    )


@asset(
    key=PANEL,
    group_name=GROUP,
    kinds={"python", "duckdb", "sql"},
    deps=[CELLS, AssetKey(SOURCE_MODEL)],
    partitions_def=force_week_partitions,
    description="Cell x week panel as known at the forecast date: recent and long-run counts "
    "(own cell and neighbours), related crimes, season, near-repeat score, 28-day targets.",
    check_specs=[AssetCheckSpec("panel_complete_and_finite", asset=PANEL)],
)
def hotspot_panel(
    context: AssetExecutionContext,
    config: HotspotPanelConfig,
    warehouse: WarehouseResource,
):
    forecast_date = forecast_date_of(context)
    with warehouse.connect() as con:
        cells_size = con.execute("SELECT max(cell_size_m) FROM hotspot_cells").fetchall()[0][0]
        unit = "lsoa" if not cells_size else "grid"
        cfg = HotspotConfig.weekly(
            unit=unit,
            cell_size_m=int(cells_size or 250),
            backtest_periods=config.backtest_weeks,
            train_periods=config.train_weeks,
        )
        info = runner.build_panel_table(con, cfg, forecast_date)
        finite = " + ".join(f"CASE WHEN isnan({c}) OR {c} IS NULL THEN 1 ELSE 0 END" for c in info.features)
        bad = con.execute(f"SELECT coalesce(sum({finite}), 0) FROM hotspot_panel").fetchall()[0][0]
    periods = info.as_of_period - info.first_period + 1
    complete = info.n_rows == info.n_units * periods
    counts = info.event_counts
    return MaterializeResult(
        metadata={
            "rows": info.n_rows,
            "units": info.n_units,
            "periods": periods,
            "features": len(info.features),
            "seconds": round(info.seconds, 1),
            **describe_periods(info, cfg),
            "crimes_known_before_forecast": counts["known_before_forecast"],
            "crimes_without_coordinates": counts["without_coordinates"],
            "crimes_outside_area": counts["outside_area"],
            "knife_injury_without_coordinates": counts.get("knife_injury_without_coordinates", 0),
            "serious_violence_without_coordinates": counts.get("serious_violence_without_coordinates", 0),
        },
        check_results=[
            AssetCheckResult(
                check_name="panel_complete_and_finite",
                passed=bool(complete and bad == 0),
                metadata={"rows": info.n_rows, "expected_rows": info.n_units * periods, "null_or_nan_features": int(bad)},
            )
        ],
    )


@asset(
    key=MODELS,
    group_name=GROUP,
    kinds={"python", "xgboost"},
    deps=[PANEL],
    partitions_def=force_week_partitions,
    description="XGBoost Poisson count models per target, retrained every few weeks on data before the "
    "forecast date; saved with a version under artifacts/models/hotspot.",
)
def hotspot_models(
    context: AssetExecutionContext,
    config: HotspotModelsConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    settings = pipeline.settings()
    with warehouse.connect() as con:
        out = runner.train_or_reuse_models(
            con, forecast_date, settings.artifacts_dir, retrain_every=max(1, config.retrain_every_weeks),
            force=config.force_retrain or config.retrain_every_weeks == 0,
        )
    rows = []
    importance = {}
    for target, m in out.models.items():
        rows.append(
            {
                "target": target,
                "version": m.version,
                "fit_date": m.fit_date.isoformat(),
                "retrained_now": out.retrained[target],
                "train_rows": m.n_train_rows,
                "train_seconds": round(m.train_seconds, 1),
            }
        )
        gain = m.booster.get_score(importance_type="total_gain")
        total = sum(gain.values()) or 1.0
        top = sorted(gain.items(), key=lambda kv: -kv[1])[:8]
        importance[target] = ", ".join(f"{k} {v / total:.0%}" for k, v in top)
    meta = {
        "models": MetadataValue.md(md_table(pd.DataFrame(rows))),
        "retrained": sum(out.retrained.values()),
    }
    for target, text in importance.items():
        meta[f"top_features_{target}"] = text
    return MaterializeResult(metadata=meta)


@asset(
    key=BACKTEST,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[PANEL],
    partitions_def=force_week_partitions,
    description="Rolling-origin backtest over the last 52 forecast weeks: hit rate and PAI at 0.5-5% of "
    "the area for the model, three baselines and (with generator truth) the ceiling. "
    "Rows in hotspot_backtest_metrics. Reruns only in the weeks the models retrain (or when its "
    "configuration changed); in other weeks the newest stored backtest is reused.",
)
def hotspot_backtest(
    context: AssetExecutionContext,
    config: HotspotBacktestConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    settings = pipeline.settings()
    with warehouse.connect() as con:
        decision = runner.backtest_decision(
            con, forecast_date, settings.artifacts_dir, refit_every=config.refit_every_weeks,
            retrain_every=max(1, config.retrain_every_weeks),
            force=config.force_rerun or config.retrain_every_weeks == 0,
        )
        if not decision.due:
            return _reused_backtest(runner.stored_backtest(con, decision.reuse_run_id), decision)
    truth = load_truth(settings.ground_truth_dir)
    with warehouse.connect() as con:
        info, cfg = runner.panel_for(con, forecast_date)
        n_fits = math.ceil(cfg.backtest_periods / config.refit_every_weeks) * len(cfg.targets)
        with Progress("hotspot backtest", total=n_fits, log=context.log) as progress:
            result, rows = runner.run_backtest_table(
                con, forecast_date, truth=truth, refit_every=config.refit_every_weeks, progress=progress
            )
    table = summary_table(result.overall, (0.005, 0.01, 0.02, 0.05))
    return MaterializeResult(
        metadata={
            "run_id": rows["run_id"].iloc[0],
            "reused": False,
            "why": decision.reason,
            "origins": int(result.per_origin["t"].nunique()),
            "first_origin": str(result.per_origin["forecast_date"].min()),
            "last_origin": str(result.per_origin["forecast_date"].max()),
            "ceiling_included": truth is not None,
            "summary": MetadataValue.md(md_table(table)),
            "seconds_fit": round(result.timings["fit"], 1),
            "seconds_evaluate": round(result.timings["evaluate"], 1),
        }
    )


def _reused_backtest(rows: pd.DataFrame, decision: runner.BacktestDecision) -> MaterializeResult:
    """Metadata of a week that reuses the newest stored backtest (no rows written)."""
    origins = pd.to_datetime(rows.loc[rows["scope"] == "origin", "forecast_date"]).dt.date
    overall = rows[rows["scope"] == "overall"]
    table = summary_table(overall, (0.005, 0.01, 0.02, 0.05))
    return MaterializeResult(
        metadata={
            "run_id": decision.reuse_run_id,
            "reused": True,
            "reused_backtest_of": decision.reuse_as_of.isoformat(),
            "why": decision.reason,
            "origins": int(origins.nunique()),
            "first_origin": str(origins.min()),
            "last_origin": str(origins.max()),
            "ceiling_included": bool(rows["model"].str.startswith("ceiling").any()),
            "summary": MetadataValue.md(md_table(table)),
        }
    )


@asset(
    key=PREDICTIONS,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[PANEL, MODELS],
    partitions_def=force_week_partitions,
    description="Analyst table: expected knife-injury and serious-violence counts per cell for the 4 weeks "
    "from the forecast date, probability of at least one, rank and top-1% flag; GeoJSON and PNG map.",
    check_specs=[
        AssetCheckSpec("one_row_per_cell_and_target", asset=PREDICTIONS),
        AssetCheckSpec("predictions_finite_and_in_range", asset=PREDICTIONS),
    ],
)
def hotspot_predictions(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
):
    forecast_date = forecast_date_of(context)
    settings = pipeline.settings()
    with warehouse.connect() as con:
        table, paths = runner.score_week(con, forecast_date, settings.artifacts_dir)
        n_units = con.execute("SELECT count(*) FROM hotspot_cells WHERE in_force_area").fetchall()[0][0]
    per_target = table.groupby("target")["cell_id"].agg(["size", "nunique"])
    one_row = bool(((per_target["size"] == n_units) & (per_target["nunique"] == n_units)).all())
    finite = bool(
        table["predicted_count"].notna().all()
        and (table["predicted_count"] >= 0).all()
        and table["prob_at_least_one"].between(0, 1).all()
    )
    top = table[table["in_top_n"]]
    summary = (
        table.groupby("target")
        .agg(units=("cell_id", "size"), expected_total=("predicted_count", "sum"), top_n=("in_top_n", "sum"))
        .reset_index()
    )
    summary["expected_in_top_n"] = top.groupby("target")["predicted_count"].sum().reindex(summary["target"]).to_numpy()
    head = table[table["rank"] <= 10][["target", "rank", "cell_id", "lsoa_code", "predicted_count", "prob_at_least_one"]]
    png = paths["png"].read_bytes()
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "model_versions": ", ".join(sorted(table["model_version"].unique())),
            "summary": MetadataValue.md(md_table(summary)),
            "top_10": MetadataValue.md(md_table(head)),
            "map": MetadataValue.md(png_markdown(png, "top hotspot cells")),
            "map_png": MetadataValue.path(str(paths["png"])),
            **{k: MetadataValue.path(str(p)) for k, p in paths.items() if k.startswith("geojson")},
        },
        check_results=[
            AssetCheckResult(
                check_name="one_row_per_cell_and_target",
                passed=one_row,
                metadata={"units_in_area": int(n_units), "rows_per_target": MetadataValue.md(md_table(per_target.reset_index()))},
            ),
            AssetCheckResult(
                check_name="predictions_finite_and_in_range",
                passed=finite,
                severity=AssetCheckSeverity.ERROR,
                metadata={"rows": len(table)},
            ),
        ],
    )


assets = [hotspot_cells, hotspot_panel, hotspot_models, hotspot_backtest, hotspot_predictions]
