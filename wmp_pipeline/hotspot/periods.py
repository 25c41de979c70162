"""Integer period indices for weeks and months, in Python and in DuckDB SQL.

The panel works on whole periods so windows are integer ranges. A week is 7
days starting on a Monday (index 0 is the week of Monday 2000-01-03); a month
is a calendar month (index = year * 12 + month - 1). A forecast date is always
the first day of a period ``t``; then "known before the forecast date"
(``known_time < date``) is exactly "known in a period before ``t``", and the
target window is periods ``t .. t + horizon - 1``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

WEEK_EPOCH = date(2000, 1, 3)  # a Monday


def period_index(value: date | datetime | str, period: str) -> int:
    """Index of the period containing ``value``."""
    d = pd.Timestamp(value).date()
    if period == "week":
        return (d - WEEK_EPOCH).days // 7
    if period == "month":
        return d.year * 12 + d.month - 1
    raise ValueError(f"unknown period {period!r}")


def period_start(index: int, period: str) -> date:
    """First day of period ``index`` (a Monday for weeks, the 1st for months)."""
    index = int(index)
    if period == "week":
        return WEEK_EPOCH + timedelta(days=7 * index)
    if period == "month":
        return date(index // 12, index % 12 + 1, 1)
    raise ValueError(f"unknown period {period!r}")


def period_starts(indices, period: str) -> pd.Series:
    """Vectorised :func:`period_start`, as datetime64 values."""
    idx = np.asarray(indices, dtype="int64")
    if period == "week":
        return pd.Series(pd.Timestamp(WEEK_EPOCH) + pd.to_timedelta(7 * idx, unit="D"))
    years, months = idx // 12, idx % 12 + 1
    return pd.Series(pd.to_datetime({"year": years, "month": months, "day": np.ones_like(idx)}))


def require_period_start(value: date, period: str) -> int:
    """The index of ``value``, which must be the first day of a period."""
    t = period_index(value, period)
    if period_start(t, period) != pd.Timestamp(value).date():
        kind = "a Monday" if period == "week" else "the first of a month"
        raise ValueError(f"forecast date {value} is not {kind}")
    return t


def sql_period_index(column: str, period: str) -> str:
    """DuckDB expression for the period index of a DATE/TIMESTAMP column."""
    if period == "week":
        return f"CAST(floor(date_diff('day', DATE '{WEEK_EPOCH.isoformat()}', CAST({column} AS DATE)) / 7) AS INTEGER)"
    if period == "month":
        return f"CAST(year({column}) * 12 + month({column}) - 1 AS INTEGER)"
    raise ValueError(f"unknown period {period!r}")


def sql_period_start(column: str, period: str) -> str:
    """DuckDB expression for the first day (DATE) of a period index column."""
    if period == "week":
        return f"(DATE '{WEEK_EPOCH.isoformat()}' + CAST(7 * {column} AS INTEGER))"
    if period == "month":
        return f"make_date(CAST({column} // 12 AS INTEGER), CAST({column} % 12 + 1 AS INTEGER), 1)"
    raise ValueError(f"unknown period {period!r}")
