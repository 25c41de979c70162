"""Force x week: the partitions of every weekly asset, and the one way to read them.

A partition key is a force slug and the Monday that starts a week of data
(``MultiPartitionKey({"force": "south-yorkshire", "week": "2026-11-16"})``,
shown as ``south-yorkshire|2026-11-16``). The run for a week happens on the
following Monday morning, when the CONNECT drop of that day has landed: its
*forecast date* is ``week start + 7 days``.

The force dimension is **static**, read from the force registry when the
code location loads (docs/forces.md says why): adding a force is an edit of
the registry file and a reload of the code location, never a code change.

Assets never parse partition keys themselves: they call :func:`week_of`,
:func:`forecast_date_of` and :func:`force_of` with their context.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dagster import MultiPartitionKey, MultiPartitionsDefinition, StaticPartitionsDefinition, WeeklyPartitionsDefinition

from wmp_pipeline.forces import registry_from_env
from wmp_pipeline.forces.registry import WEEK_TIME_ZONE

TIMEZONE = WEEK_TIME_ZONE
FIRST_WEEK = "2018-01-01"  # a Monday; partitions before the data simply hold no crimes
FORCE_DIM = "force"
WEEK_DIM = "week"

weekly_partitions = WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK,
    day_offset=1,  # Monday
    hour_offset=0,
    timezone=TIMEZONE,
)


def force_partitions(slugs: list[str] | None = None) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(list(slugs) if slugs is not None else registry_from_env().slugs)


def build_force_week_partitions(slugs: list[str] | None = None) -> MultiPartitionsDefinition:
    """Force (from the registry) x week (Mondays, Europe/London)."""
    return MultiPartitionsDefinition({FORCE_DIM: force_partitions(slugs), WEEK_DIM: weekly_partitions})


#: The partitions of every weekly asset (the registry as the code location loads).
force_week_partitions = build_force_week_partitions()


def force_week_key(force: str, week: str) -> MultiPartitionKey:
    """The partition key of ``force``'s week starting ``week`` (a Monday, ISO date)."""
    return MultiPartitionKey({FORCE_DIM: force, WEEK_DIM: week})


def _dimensions(context) -> dict[str, str]:
    key = context.partition_key
    if isinstance(key, MultiPartitionKey):
        return dict(key.keys_by_dimension)
    raise TypeError(f"partition key {key!r} is not a force x week key")


def week_of(context) -> str:
    """The week (Monday, ISO date) of the asset's partition."""
    return _dimensions(context)[WEEK_DIM]


def force_of(context) -> str:
    """The force slug of the asset's partition."""
    return _dimensions(context)[FORCE_DIM]


def forecast_date_of(context) -> date:
    """The forecast date (the Monday after the week) of the asset's partition."""
    return forecast_date_for_partition(week_of(context))


def forecast_date_for_partition(week: str) -> date:
    """The Monday the week's run forecasts from (the day after the week ends)."""
    return datetime.strptime(week, "%Y-%m-%d").date() + timedelta(days=7)


def partition_for_forecast_date(forecast_date: date) -> str:
    """Inverse of :func:`forecast_date_for_partition`; ``forecast_date`` must be a Monday."""
    if forecast_date.weekday() != 0:
        raise ValueError(f"forecast date {forecast_date} is not a Monday")
    return (forecast_date - timedelta(days=7)).isoformat()


def week_for_date(day: date) -> str:
    """The week whose run forecasts from the first Monday on or after ``day``."""
    monday = day + timedelta(days=(7 - day.weekday()) % 7)
    return partition_for_forecast_date(monday)


def default_force_week(week: str) -> MultiPartitionKey:
    """The partition key of the registry's default force for ``week`` (the Quick start's partitions)."""
    return force_week_key(registry_from_env().default_force, week)
