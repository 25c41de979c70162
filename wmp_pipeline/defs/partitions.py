"""The weekly partitions that drive the weekly job and its schedule.

A partition key is the Monday that starts a week of data. The run for that
partition happens on the following Monday morning, when the CONNECT drop of
that day has landed: its *forecast date* is ``partition start + 7 days``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dagster import WeeklyPartitionsDefinition

TIMEZONE = "Europe/London"
FIRST_WEEK = "2018-01-01"  # a Monday; partitions before the data simply hold no crimes

weekly_partitions = WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK,
    day_offset=1,  # Monday
    hour_offset=0,
    timezone=TIMEZONE,
)


def forecast_date_for_partition(partition_key: str) -> date:
    """The Monday the partition's run forecasts from (the day after the week ends)."""
    return datetime.strptime(partition_key, "%Y-%m-%d").date() + timedelta(days=7)


def partition_for_forecast_date(forecast_date: date) -> str:
    """Inverse of :func:`forecast_date_for_partition`; ``forecast_date`` must be a Monday."""
    if forecast_date.weekday() != 0:
        raise ValueError(f"forecast date {forecast_date} is not a Monday")
    return (forecast_date - timedelta(days=7)).isoformat()
