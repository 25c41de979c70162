"""Start the weekly job as soon as a new CONNECT drop lands."""

from __future__ import annotations

from datetime import date, timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from wmp_pipeline.defs.jobs import weekly_job
from wmp_pipeline.ingest.drops import ready_drop_dirs
from wmp_pipeline.settings import get_settings


def partition_for_drop(drop_id: str) -> str:
    """The weekly partition a drop completes: the week (Monday start) before the drop's Monday."""
    d = date.fromisoformat(drop_id)
    monday = d - timedelta(days=d.weekday())
    return (monday - timedelta(days=7)).isoformat()


def new_complete_drops(connect_dir, cursor: str | None) -> list[str]:
    """Drop folders newer than the cursor whose manifest has landed (the feed writes it last).

    Future-dated and misnamed folders are left out (ingest refuses them), so
    one cannot move the cursor past the real drops.
    """
    return [p.name for p in ready_drop_dirs(connect_dir) if cursor is None or p.name > cursor]


@sensor(
    job=weekly_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Watches <landing>/connect for a new drop (a dated folder with its manifest) and runs its week.",
)
def connect_drop_sensor(context: SensorEvaluationContext):
    drops = new_complete_drops(get_settings().connect_dir, context.cursor)
    if not drops:
        return SkipReason("no new CONNECT drop")
    newest = drops[-1]
    context.update_cursor(newest)
    return RunRequest(run_key=f"drop-{newest}", partition_key=partition_for_drop(newest), tags={"connect_drop": newest})
