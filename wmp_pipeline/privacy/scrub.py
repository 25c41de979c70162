"""Keeping person identifiers out of logs, Dagster metadata and analyst tables.

Data-quality results are most useful with a few failing rows attached, and
those rows come from CONNECT tables that hold person identifiers. Everything
that leaves the working database for a person to read (a check's metadata, a
log line, the analyst file) goes through the names and helpers here:

- :data:`IDENTIFYING_COLUMNS`: columns that identify a person, or nearly do
  (a CONNECT nominal id, a date of birth, a home area, free text that may hold
  names). They are masked in samples and refused in the analyst file.
- :func:`mask_identifiers`: a copy of a DataFrame with those columns masked.
- :func:`scrub_text`: a string with given identifier values replaced, for
  messages built from raw values (a quarantine reason quotes the bad value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

MASK = "<masked>"

#: Columns that identify a person (or nearly do) and never appear unmasked in
#: metadata, logs or the analyst file. ``offence_description`` is free text as
#: recorded and may name people.
IDENTIFYING_COLUMNS: frozenset[str] = frozenset(
    {
        "person_id",
        "nominal_id",
        "date_of_birth",
        "dob",
        "home_lsoa_code",
        "forename",
        "surname",
        "full_name",
        "address",
        "postcode",
        "pnc_id",
        "offence_description",
    }
)

# ``suspect_person_id``, ``victim_nominal_id`` and the like.
_IDENTIFYING_SUFFIX = re.compile(r"(^|_)(person_id|nominal_id|date_of_birth)$", re.IGNORECASE)


def is_identifying_column(name: str) -> bool:
    """True for a column name that holds (or is derived 1:1 from) a person identifier."""
    n = name.strip().lower()
    return n in IDENTIFYING_COLUMNS or bool(_IDENTIFYING_SUFFIX.search(n))


def identifying_columns(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if is_identifying_column(c)]


def mask_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every identifying column replaced by ``<masked>`` (nulls stay null).

    Keeping the column (rather than dropping it) shows the reader that a value
    was there without showing the value.
    """
    out = df.copy()
    for col in identifying_columns(out.columns):
        out[col] = pd.Series(np.where(out[col].isna(), None, MASK), index=out.index, dtype=object)
    return out


def scrub_text(text: str, identifiers: Iterable[str]) -> str:
    """Replace every occurrence of each identifier value in ``text`` with ``<masked>``.

    Longer values first, so an id that contains another is masked whole.
    """
    out = text
    for value in sorted({str(v) for v in identifiers if v not in (None, "")}, key=len, reverse=True):
        out = out.replace(value, MASK)
    return out
