"""Hotspot assets: cells, weekly panels, models, backtest and the analyst predictions.

Thin wrappers over :mod:`wmp_pipeline.hotspot.runner` (the steps) and
:mod:`wmp_pipeline.hotspot.checks` (what is checked and reported); each adds
Dagster metadata (counts, markdown tables, the map as an embedded PNG) and the
checks that sit next to what they check. Every setting comes from the
``hotspot`` resource (:class:`~wmp_pipeline.defs.hotspot.resources.HotspotResource`):
one :class:`~wmp_pipeline.hotspot.config.HotspotConfig`, built once per asset
and passed down; nothing is read back from a table to learn it.
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

from wmp_pipeline.defs.hotspot.resources import HotspotResource
from wmp_pipeline.defs.partitions import forecast_date_for_partition, weekly_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.hotspot import checks, runner, store
from wmp_pipeline.hotspot.backtest import summary_table
from wmp_pipeline.hotspot.connect_source import SOURCE_MODEL, load_truth
from wmp_pipeline.hotspot.panel import describe_periods
from wmp_pipeline.markdown import markdown_table as md_table
from wmp_pipeline.markdown import png_markdown
from wmp_pipeline.progress import Progress

GROUP = "hotspot"
CELLS = AssetKey("hotspot_cells")
PANEL = AssetKey("hotspot_panel")
MODELS = AssetKey("hotspot_models")
BACKTEST = AssetKey("hotspot_backtest")
PREDICTIONS = AssetKey("hotspot_predictions")


class HotspotModelsConfig(Config):
    """``force_retrain``: retrain this week whatever the cadence."""

    force_retrain: bool = False


class HotspotBacktestConfig(Config):
    """``force_rerun``: rerun the backtest this week whatever the cadence."""

    force_rerun: bool = False


@asset(
    key=CELLS,
    group_name=GROUP,
    kinds={"python", "duckdb", "geopandas"},
    deps=[AssetKey(SOURCE_MODEL)],
    description="Square British National Grid cells covering the force area, with their LSOA: one grid per "
    "target size (by default the force's published grids: knife injury 1000 m, serious violence 707 m).",
    check_specs=[AssetCheckSpec("cell_ids_unique_and_aligned", asset=CELLS)],
)
def hotspot_cells(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
    hotspot: HotspotResource,
):
    settings = pipeline.settings()
    cfg = hotspot.config()
    with warehouse.connect() as con:
        cells = runner.build_cells_table(con, cfg, settings.boundary_file)
    grids = checks.cells_summary(cells, cfg)
    check = checks.check_cells(cells, cfg)
    return MaterializeResult(
        metadata={
            "grids": MetadataValue.md(md_table(grids)),
            "units_in_force_area": int(grids["units_in_force_area"].sum()),
            "unit": cfg.unit,
            "cell_sizes_m": ", ".join(f"{t} {cfg.cell_size_for(t)}" for t in cfg.targets),
            "area_rule": "boundary file" if settings.boundary_file else f"footprint of crimes + {cfg.footprint_buffer_m:g} m",
        },
        check_results=[AssetCheckResult(check_name="cell_ids_unique_and_aligned", passed=check.passed, metadata=check.metadata)],
    )


@asset(
    key=PANEL,
    group_name=GROUP,
    kinds={"python", "duckdb", "sql"},
    deps=[CELLS, AssetKey(SOURCE_MODEL)],
    partitions_def=weekly_partitions,
    description="Cell x week panel as known at the forecast date: recent and long-run counts "
    "(own cell and neighbours), related crimes, season, near-repeat score, 28-day targets.",
    check_specs=[AssetCheckSpec("panel_complete_and_finite", asset=PANEL)],
)
def hotspot_panel(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    hotspot: HotspotResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    cfg = hotspot.config()
    with warehouse.connect() as con:
        grids = runner.build_panel_table(con, cfg, forecast_date)
        outcomes = [checks.check_panel(con, g.info) for g in grids]
    first = grids[0].info
    counts = first.event_counts
    per_grid = pd.DataFrame([
        {"table": g.info.table, "targets": ", ".join(g.targets), "rows": g.info.n_rows, "units": g.info.n_units,
         "features": len(g.info.features), "seconds": round(g.info.seconds, 1), **o.metadata}
        for g, o in zip(grids, outcomes, strict=True)
    ])
    return MaterializeResult(
        metadata={
            "panels": MetadataValue.md(md_table(per_grid)),
            "rows": int(per_grid["rows"].sum()),
            "periods": first.as_of_period - first.first_period + 1,
            "seconds": round(float(per_grid["seconds"].sum()), 1),
            **describe_periods(first, cfg),
            "crimes_known_before_forecast": counts["known_before_forecast"],
            "crimes_without_coordinates": counts["without_coordinates"],
            "crimes_outside_area": counts["outside_area"],
            **{f"{t}_without_coordinates": counts.get(f"{t}_without_coordinates", 0) for t in cfg.targets},
        },
        check_results=[
            AssetCheckResult(
                check_name="panel_complete_and_finite",
                passed=all(o.passed for o in outcomes),
                metadata={"panels": MetadataValue.md(md_table(per_grid))},
            )
        ],
    )


@asset(
    key=MODELS,
    group_name=GROUP,
    kinds={"python", "xgboost"},
    deps=[PANEL],
    partitions_def=weekly_partitions,
    description="XGBoost Poisson count models per target, retrained every few weeks on data before the "
    "forecast date; saved with a version under artifacts/models/hotspot.",
)
def hotspot_models(
    context: AssetExecutionContext,
    config: HotspotModelsConfig,
    warehouse: WarehouseResource,
    pipeline: PipelineSettingsResource,
    hotspot: HotspotResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    cfg = hotspot.config()
    with warehouse.connect() as con:
        out = runner.train_or_reuse_models(con, cfg, forecast_date, pipeline.settings().artifacts_dir, force=config.force_retrain)
    rows, importance = checks.model_rows(out.models, out.retrained)
    meta = {"models": MetadataValue.md(md_table(rows)), "retrained": sum(out.retrained.values())}
    for target, text in importance.items():
        meta[f"top_features_{target}"] = text
    return MaterializeResult(metadata=meta)


@asset(
    key=BACKTEST,
    group_name=GROUP,
    kinds={"python", "duckdb", "xgboost"},
    deps=[PANEL],
    partitions_def=weekly_partitions,
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
    hotspot: HotspotResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    settings = pipeline.settings()
    cfg = hotspot.config()
    with warehouse.connect() as con:
        decision = runner.backtest_decision(con, cfg, forecast_date, settings.artifacts_dir, force=config.force_rerun)
        if not decision.due:
            return _reused_backtest(runner.stored_backtest(con, decision.reuse_run_id), decision, cfg)
    truth = load_truth(settings.ground_truth_dir)
    n_fits = math.ceil(cfg.backtest_periods / max(1, cfg.refit_every)) * len(cfg.targets)
    with warehouse.connect() as con, Progress("hotspot backtest", total=n_fits, log=context.log) as progress:
        result, rows = runner.run_backtest_table(con, cfg, forecast_date, truth=truth, progress=progress)
    table = _with_sizes(summary_table(result.overall, cfg.area_shares), cfg)
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


def _with_sizes(table: pd.DataFrame, cfg) -> pd.DataFrame:
    """The summary table with each target's cell size beside it."""
    table.insert(1, "cell_size_m", table["target"].map(cfg.cell_size_for))
    return table


def _reused_backtest(rows: pd.DataFrame, decision: runner.BacktestDecision, cfg) -> MaterializeResult:
    """Metadata of a week that reuses the newest stored backtest (no rows written)."""
    origins = pd.to_datetime(rows.loc[rows["scope"] == "origin", "forecast_date"]).dt.date
    overall = rows[rows["scope"] == "overall"]
    table = _with_sizes(summary_table(overall, cfg.area_shares), cfg)
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
    partitions_def=weekly_partitions,
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
    hotspot: HotspotResource,
):
    forecast_date = forecast_date_for_partition(context.partition_key)
    cfg = hotspot.config()
    with warehouse.connect() as con:
        table, paths = runner.score_week(con, cfg, forecast_date, pipeline.settings().artifacts_dir)
        units = checks.units_per_target(con, cfg, store.CELLS_TABLE)
    one_row, per_target = checks.check_one_row_per_unit(table, units)
    in_range = checks.check_predictions_in_range(table)
    head = table[table["rank"] <= 10][["target", "rank", "cell_id", "lsoa_code", "predicted_count", "prob_at_least_one"]]
    return MaterializeResult(
        metadata={
            "forecast_week": forecast_date.isoformat(),
            "model_versions": ", ".join(sorted(table["model_version"].unique())),
            "summary": MetadataValue.md(md_table(checks.predictions_summary(table))),
            "top_10": MetadataValue.md(md_table(head)),
            "map": MetadataValue.md(png_markdown(paths["png"].read_bytes(), "top hotspot cells")),
            "map_png": MetadataValue.path(str(paths["png"])),
            **{k: MetadataValue.path(str(p)) for k, p in paths.items() if k.startswith("geojson")},
        },
        check_results=[
            AssetCheckResult(
                check_name="one_row_per_cell_and_target",
                passed=one_row.passed,
                metadata={"rows_per_target": MetadataValue.md(md_table(per_target))},
            ),
            AssetCheckResult(
                check_name="predictions_finite_and_in_range",
                passed=in_range.passed,
                severity=AssetCheckSeverity.ERROR,
                metadata=in_range.metadata,
            ),
        ],
    )


assets = [hotspot_cells, hotspot_panel, hotspot_models, hotspot_backtest, hotspot_predictions]
