"""Monday morning, Europe/London: one run per force for the week that has just ended.

Two schedules, one per weekly job (a Dagster schedule targets one job):
``weekly_monday_morning`` starts ``weekly_job`` for every CONNECT force,
``policeuk_monday_morning`` starts ``policeuk_weekly_job`` for every police.uk
force. The runs are queued; the instance's run queue decides how many run
at once (docs/forces.md).
"""

from datetime import timedelta

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from wmp_pipeline.defs.jobs import job_name_for, policeuk_weekly_job, weekly_job
from wmp_pipeline.defs.partitions import TIMEZONE, force_week_key, force_week_partitions
from wmp_pipeline.defs.resources import PipelineSettingsResource


def week_ended_before(scheduled) -> str:
    """The week (Monday, ISO) that ended on the Sunday before the scheduled Monday."""
    return (scheduled.date() - timedelta(days=7)).isoformat()


def weekly_run_requests(forces, job_name: str, week: str, known_slugs) -> list[RunRequest]:
    """One run request per force of ``job_name`` (that the partitions know) for ``week`` (pure)."""
    return [
        RunRequest(run_key=f"{f.slug}|{week}", partition_key=force_week_key(f.slug, week), tags={"wmp/trigger": "schedule"})
        for f in forces
        if f.slug in known_slugs and job_name_for(f) == job_name
    ]


def _known_slugs() -> set[str]:
    return set(force_week_partitions.get_partitions_def_for_dimension("force").get_partition_keys())


def _weekly_schedule(name: str, job, description: str):
    @schedule(name=name, cron_schedule="0 6 * * 1", execution_timezone=TIMEZONE, job=job, description=description)
    def _schedule(context: ScheduleEvaluationContext, pipeline: PipelineSettingsResource):
        week = week_ended_before(context.scheduled_execution_time)
        requests = weekly_run_requests(pipeline.registry().forces, job.name, week, _known_slugs())
        return requests or SkipReason(f"no force in the registry runs {job.name}")

    return _schedule


weekly_schedule = _weekly_schedule(
    "weekly_monday_morning",
    weekly_job,
    "At 06:00 every Monday (Europe/London), weekly_job for every CONNECT force of the registry, for the week "
    "that ended on Sunday.",
)
policeuk_schedule = _weekly_schedule(
    "policeuk_monday_morning",
    policeuk_weekly_job,
    "At 06:00 every Monday (Europe/London), policeuk_weekly_job for every police.uk force of the registry, for "
    "the week that ended on Sunday (the forecast month follows the newest month published by then).",
)
