"""The weekly job: every asset, for one weekly partition."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from wmp_pipeline.defs.partitions import weekly_partitions

WEEKLY_JOB_NAME = "weekly_job"

weekly_job = define_asset_job(
    name=WEEKLY_JOB_NAME,
    selection=AssetSelection.all(),
    partitions_def=weekly_partitions,
    description=(
        "The Monday run: apply new CONNECT drops, rebuild dbt staging and marts, build features, "
        "retrain when due, backtest, score the week, publish the analyst file and the reports."
    ),
)
