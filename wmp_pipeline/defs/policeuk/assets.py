"""police.uk street-level crime: a second, public source beside CONNECT, and a force's only source.

``raw/policeuk_street`` loads, for a force whose registry source is
``policeuk``, that force's folder (a missing or empty one fails the run,
naming the force and the folder); for a CONNECT force, the folder named by
the environment variable ``WMP_POLICEUK_DIR`` as a second source
(police.uk files as downloaded, one per force and month). Without it the
asset is still defined, so the lineage graph shows the source, but a run
loads nothing and says so in its metadata.
``policeuk_hotspot_forecast`` is a police.uk force's hotspot forecast (monthly,
see :mod:`wmp_pipeline.policeuk.forecast`). Loading is idempotent (a ledger of files by force, month and
content hash), so the weekly job can run it every time at the cost of hashing
the files.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.policeuk.resources import PoliceUkResource
from wmp_pipeline.defs.resources import PipelineSettingsResource, WarehouseResource
from wmp_pipeline.forces import require_input
from wmp_pipeline.defs.partitions import forecast_date_of
from wmp_pipeline.policeuk.backtest import monthly_config
from wmp_pipeline.policeuk.forecast import forecast_force
from wmp_pipeline.policeuk.loader import LEDGER_TABLE, STREET_TABLE, load_folder, loaded_forces
from wmp_pipeline.markdown import markdown_table
from wmp_pipeline.settings import ENV_VARS

POLICEUK_DIR_ENV = ENV_VARS["policeuk_dir"]
STREET_KEY = AssetKey(["raw", "policeuk_street"])


@asset(
    key=STREET_KEY,
    group_name="policeuk",
    partitions_def=force_week_partitions,
    kinds={"python", "duckdb"},
    description=(
        "police.uk street-level crime of the folder in WMP_POLICEUK_DIR: every row of every force-month file, "
        "BNG easting/northing converted from longitude/latitude, with file lineage; a file ledger "
        f"({LEDGER_TABLE}) makes reloads idempotent and lets a re-published month replace its rows. "
        "A no-op (reported in metadata) when WMP_POLICEUK_DIR is not set."
    ),
)
def policeuk_street(
    context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource, policeuk: PoliceUkResource
) -> MaterializeResult:
    force = pipeline.force()
    folder = require_input(force, pipeline.settings()) if force.is_policeuk else policeuk.folder_path()
    if folder is None:
        context.log.info(f"{POLICEUK_DIR_ENV} is not set: no police.uk files to load")
        return MaterializeResult(
            metadata={
                "status": MetadataValue.text(f"not configured: set {POLICEUK_DIR_ENV} to a folder of police.uk street-level files"),
                "files_loaded_this_run": 0,
            }
        )
    with warehouse.connect() as con:
        report = load_folder(con, folder, log=context.log)
        forces = loaded_forces(con)
        total = con.execute(f"SELECT count(*), count(*) FILTER (WHERE easting IS NULL) FROM {STREET_TABLE}").fetchone()
    return MaterializeResult(
        metadata={
            "status": MetadataValue.text(report.summary()),
            "folder": MetadataValue.path(str(folder)),
            "files_loaded_this_run": report.count("loaded"),
            "files_replaced_this_run": report.count("replaced"),
            "files_unchanged": report.count("unchanged"),
            "rows_loaded_this_run": report.rows_loaded,
            "rows_without_location_this_run": report.rows_without_location,
            "rows_total": int(total[0]),
            "rows_without_location_total": int(total[1]),
            "forces": MetadataValue.md(markdown_table(forces)),
        }
    )


POLICEUK_FORECAST_KEY = AssetKey("policeuk_hotspot_forecast")


@asset(
    key=POLICEUK_FORECAST_KEY,
    group_name="policeuk",
    kinds={"python", "duckdb", "xgboost"},
    deps=[AssetKey("stg_policeuk__street_crimes")],
    partitions_def=force_week_partitions,
    description=(
        "A police.uk force's hotspot forecast: the month after the newest month published before the forecast "
        "date, per 250 m cell and police.uk target (hotspot_predictions), with the 12-month rolling-origin "
        "backtest against three baselines (policeuk_backtest_metrics; rerun only when a new month arrives). "
        "For a CONNECT force it does nothing and says so: the weekly hotspot assets serve it."
    ),
)
def policeuk_hotspot_forecast(
    context: AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineSettingsResource
) -> MaterializeResult:
    force = pipeline.force()
    if not force.is_policeuk:
        return MaterializeResult(metadata={"status": MetadataValue.text(f"{force.slug} is a CONNECT force: hotspot_predictions serves it")})
    settings = pipeline.settings()
    cfg = force.apply_overrides("hotspot", monthly_config(cell_size_m=force.grid_cell_size_m))
    with warehouse.connect() as con:
        fc = forecast_force(con, force.policeuk_slug, cfg, forecast_date_of(context), settings.artifacts_dir, log=context.log)
    top = fc.predictions[fc.predictions["rank"] <= 5][["target", "rank", "cell_id", "predicted_count"]]
    return MaterializeResult(
        metadata={
            "force": force.slug,
            "newest_month_known": fc.last_month.isoformat(),
            "forecast_month": fc.forecast_month.isoformat(),
            "cells": int(fc.predictions["cell_id"].nunique()),
            "backtest_run_id": fc.backtest_run_id,
            "backtest_reused": fc.backtest_reused,
            "backtest": MetadataValue.md(markdown_table(fc.summary)),
            "top_5": MetadataValue.md(markdown_table(top)),
            "missing_months": ", ".join(m.strftime("%Y-%m") for m in fc.source["missing_months"]) or "none",
            "seconds": fc.timings.get("total", 0.0),
            "map_png": MetadataValue.path(str(fc.paths["png"])),
        }
    )


assets = [policeuk_street, policeuk_hotspot_forecast]
