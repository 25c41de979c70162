"""The Dagster code location: gathers the definitions of each area."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from wmp_pipeline.defs.catalogue import assets as catalogue_assets
from wmp_pipeline.defs.dbt import assets as dbt_assets
from wmp_pipeline.defs.hotspot import assets as hotspot_assets
from wmp_pipeline.defs.ingest import assets as ingest_assets
from wmp_pipeline.defs import iom as iom_assets
from wmp_pipeline.defs.jobs import national_catalogue_job, policeuk_weekly_job, weekly_job
from wmp_pipeline.defs.loggers import terminal_logger
from wmp_pipeline.defs.policeuk import assets as policeuk_assets
from wmp_pipeline.defs.publish import assets as publish_assets
from wmp_pipeline.defs.quality import assets as quality_assets
from wmp_pipeline.defs.quality import checks as quality_checks
from wmp_pipeline.defs.reports import assets as report_assets
from wmp_pipeline.defs.resources import build_resources
from wmp_pipeline.defs.schedules import policeuk_schedule, weekly_schedule
from wmp_pipeline.defs.sensors import connect_drop_sensor
from wmp_pipeline.settings import Settings


def build_definitions(settings: Settings | None = None, forces_file: str | None = None) -> Definitions:
    """All definitions, with resources bound to ``settings`` (default: the environment) and the force
    registry ``forces_file`` (default: WMP_FORCES_FILE, else the embedded one-force registry)."""
    return Definitions(
        assets=[
            *ingest_assets.assets,
            *dbt_assets.assets,
            *hotspot_assets.assets,
            *iom_assets.assets,
            *quality_assets.assets,
            *publish_assets.assets,
            *report_assets.assets,
            *policeuk_assets.assets,
            *catalogue_assets.assets,
        ],
        # hotspot and IOM checks are check_specs of their assets, run inside them
        asset_checks=quality_checks.asset_checks,
        jobs=[weekly_job, policeuk_weekly_job, national_catalogue_job],
        schedules=[weekly_schedule, policeuk_schedule],
        sensors=[connect_drop_sensor],
        resources=build_resources(settings, forces_file),
        # the console: Dagster's logger, or compact lines for `wmp run` (defs/loggers.py)
        loggers={"console": terminal_logger},
        # DuckDB has one writer per force: a run's steps run in its own process, in order; runs of
        # different forces run in parallel (the instance's run queue, docs/forces.md).
        executor=in_process_executor,
    )


defs = build_definitions()
