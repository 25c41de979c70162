"""The Dagster code location: gathers the definitions of each area."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from wmp_pipeline.defs.dbt import assets as dbt_assets
from wmp_pipeline.defs.hotspot import assets as hotspot_assets
from wmp_pipeline.defs.ingest import assets as ingest_assets
from wmp_pipeline.defs import iom as iom_assets
from wmp_pipeline.defs.jobs import weekly_job
from wmp_pipeline.defs.loggers import terminal_logger
from wmp_pipeline.defs.policeuk import assets as policeuk_assets
from wmp_pipeline.defs.publish import assets as publish_assets
from wmp_pipeline.defs.quality import assets as quality_assets
from wmp_pipeline.defs.quality import checks as quality_checks
from wmp_pipeline.defs.reports import assets as report_assets
from wmp_pipeline.defs.resources import build_resources
from wmp_pipeline.defs.schedules import weekly_schedule
from wmp_pipeline.defs.sensors import connect_drop_sensor
from wmp_pipeline.settings import Settings


def build_definitions(settings: Settings | None = None) -> Definitions:
    """All definitions, with resources bound to ``settings`` (default: the environment)."""
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
        ],
        asset_checks=[*quality_checks.asset_checks, *hotspot_assets.asset_checks, *iom_assets.asset_checks],
        jobs=[weekly_job],
        schedules=[weekly_schedule],
        sensors=[connect_drop_sensor],
        resources=build_resources(settings),
        # the console: Dagster's logger, or compact lines for `wmp run` (defs/loggers.py)
        loggers={"console": terminal_logger},
        # DuckDB has one writer: every step runs in the run's own process, in order.
        executor=in_process_executor,
    )


defs = build_definitions()
