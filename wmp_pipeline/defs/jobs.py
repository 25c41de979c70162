"""The jobs: one weekly run per force x week (CONNECT or police.uk), and the national catalogue.

A CONNECT force's week runs ``weekly_job`` (every weekly asset); a police.uk
force's week runs ``policeuk_weekly_job``: its police.uk files, their
staging model, the monthly hotspot forecast and its analyst file. The
CONNECT-only assets (drops, IOM, the weekly hotspot models, briefing) are
not part of it: police.uk publishes no offenders and no dates, so they have
nothing to work on (docs/forces.md). Both jobs share the force x week
partitions, so lineage stays one graph and any force-week of either can be
re-run or backfilled from the UI.
"""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, define_asset_job

from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.forces import Force

WEEKLY_JOB_NAME = "weekly_job"
POLICEUK_JOB_NAME = "policeuk_weekly_job"
CATALOGUE_JOB_NAME = "national_catalogue_job"

POLICEUK_FORECAST = AssetKey("policeuk_hotspot_forecast")
CATALOGUE = AssetKey("national_catalogue")
POLICEUK_ASSETS = AssetSelection.assets(
    AssetKey(["raw", "policeuk_street"]),
    AssetKey("stg_policeuk__street_crimes"),
    POLICEUK_FORECAST,
    AssetKey("analyst_database"),
)

weekly_job = define_asset_job(
    name=WEEKLY_JOB_NAME,
    selection=AssetSelection.all() - AssetSelection.assets(POLICEUK_FORECAST, CATALOGUE),
    partitions_def=force_week_partitions,
    description=(
        "A CONNECT force's Monday run: apply new CONNECT drops, rebuild dbt staging and marts, build features, "
        "retrain when due, backtest, score the week, publish the force's analyst file and reports."
    ),
)

policeuk_weekly_job = define_asset_job(
    name=POLICEUK_JOB_NAME,
    selection=POLICEUK_ASSETS,
    partitions_def=force_week_partitions,
    description=(
        "A police.uk force's Monday run: load its street-level files, stage them, forecast the next month's "
        "hotspots (backtest rerun when a new month arrives) and publish the force's analyst file."
    ),
)

national_catalogue_job = define_asset_job(
    name=CATALOGUE_JOB_NAME,
    selection=AssetSelection.assets(CATALOGUE),
    description="Rebuild the national analyst catalogue from every force's published analyst file.",
)


def job_name_for(force: Force) -> str:
    """The job that runs ``force``'s weeks."""
    return POLICEUK_JOB_NAME if force.is_policeuk else WEEKLY_JOB_NAME
