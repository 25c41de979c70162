"""Start a force's weekly run as soon as new input lands in its folder.

For each force of the registry: a CONNECT force's landing folder gets a new
drop (a dated folder whose manifest has landed), or a police.uk force's
folder gets a new month's street-level file. The sensor requests one run of
that force for the week the new input completes; its cursor remembers the
newest input seen per force.
"""


import json
from datetime import date, timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from wmp_pipeline.defs.jobs import job_name_for, policeuk_weekly_job, weekly_job
from wmp_pipeline.defs.partitions import force_week_key, force_week_partitions, week_for_date
from wmp_pipeline.defs.resources import PipelineSettingsResource
from wmp_pipeline.ingest.drops import ready_drop_dirs


def partition_for_drop(drop_id: str) -> str:
    """The week (Monday start) a drop completes: the week before the drop's Monday."""
    d = date.fromisoformat(drop_id)
    monday = d - timedelta(days=d.weekday())
    return (monday - timedelta(days=7)).isoformat()


def new_complete_drops(connect_dir, cursor: str | None) -> list[str]:
    """Drop folders newer than the cursor whose manifest has landed (the feed writes it last).

    Future-dated and misnamed folders are left out (ingest refuses them), so
    one cannot move the cursor past the real drops.
    """
    if not connect_dir.is_dir():
        return []
    return [p.name for p in ready_drop_dirs(connect_dir) if cursor is None or p.name > cursor]


def newest_policeuk_month(folder, policeuk_slug: str) -> str | None:
    """The newest month (``YYYY-MM``) of the force's street-level files in ``folder``, or None."""
    from wmp_pipeline.policeuk.files import find_street_files

    if folder is None or not folder.is_dir():
        return None
    months = [f.month for f in find_street_files(folder) if f.force_slug == policeuk_slug]
    return max(months) if months else None


def week_for_policeuk_month(month: str) -> str:
    """The week whose run first knows ``month`` (YYYY-MM): the one ending after the month ends."""
    first = date.fromisoformat(f"{month}-01")
    next_month = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return week_for_date(next_month)


def force_requests(forces, settings_of, cursor: dict[str, str], known_slugs) -> tuple[list[RunRequest], dict[str, str]]:
    """The run requests for every force with new input since ``cursor``, and the new cursor (pure)."""
    requests, new_cursor = [], dict(cursor)
    for force in forces:
        if force.slug not in known_slugs:
            continue
        if force.is_policeuk:
            month = newest_policeuk_month(force.landing, force.policeuk_slug)
            if month is None or (cursor.get(force.slug) and month <= cursor[force.slug]):
                continue
            newest, week = month, week_for_policeuk_month(month)
        else:
            drops = new_complete_drops(settings_of(force).connect_dir, cursor.get(force.slug))
            if not drops:
                continue
            newest, week = drops[-1], partition_for_drop(drops[-1])
        new_cursor[force.slug] = newest
        requests.append(
            RunRequest(
                run_key=f"{force.slug}-input-{newest}",
                job_name=job_name_for(force),
                partition_key=force_week_key(force.slug, week),
                tags={"wmp/new_input": newest},
            )
        )
    return requests, new_cursor


@sensor(
    jobs=[weekly_job, policeuk_weekly_job],
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Watches every force's folder (CONNECT: <landing>/connect for a new dated drop with its manifest; "
        "police.uk: a new month's street-level file) and runs that force's week."
    ),
)
def connect_drop_sensor(context: SensorEvaluationContext, pipeline: PipelineSettingsResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = set(force_week_partitions.get_partitions_def_for_dimension("force").get_partition_keys())
    requests, new_cursor = force_requests(
        pipeline.registry().forces, lambda f: pipeline.for_force(f.slug).settings(), cursor, known
    )
    if not requests:
        return SkipReason("no new input in any force's folder")
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    return requests
