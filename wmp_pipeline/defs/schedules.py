"""Monday morning, Europe/London: the weekly run for the week that has just ended."""

from __future__ import annotations

from dagster import build_schedule_from_partitioned_job

from wmp_pipeline.defs.jobs import weekly_job

weekly_schedule = build_schedule_from_partitioned_job(
    weekly_job,
    name="weekly_monday_morning",
    hour_of_day=6,
    minute_of_hour=0,
    description="Runs the weekly job at 06:00 every Monday (Europe/London) for the week that ended on Sunday.",
)
