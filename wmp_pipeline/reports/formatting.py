"""How the reports write values as text: one formatter for the briefing and the transparency record.

Missing values (``None``, NaN, ``NaT``) are an en dash; dates are ``YYYY-MM-DD``
(a datetime that is not midnight adds ``HH:MM``); booleans are yes/no; whole
numbers have thousands separators; other floats keep ``digits`` decimals.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

MISSING = "–"


def is_missing(v) -> bool:
    return v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def fmt_int(v) -> str:
    return MISSING if is_missing(v) else f"{int(v):,}"


def fmt_num(v, digits: int = 2) -> str:
    return MISSING if is_missing(v) else f"{float(v):,.{digits}f}"


def fmt_pct(v, digits: int = 0) -> str:
    return MISSING if is_missing(v) else f"{100 * float(v):.{digits}f}%"


def fmt_value(v, digits: int = 3) -> str:
    """Any table value as text: dates as YYYY-MM-DD, whole floats without decimals."""
    if is_missing(v):
        return MISSING
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat(sep=" ", timespec="minutes")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return fmt_int(v)
    if isinstance(v, float):
        return fmt_int(v) if v.is_integer() else fmt_num(v, digits)
    return str(v)
