"""The CONNECT weekly extract contract, version 1, as data.

This module is the single Python statement of ``connect-extract-contract.md``:
the layout of a drop, the three tables, their columns, types, nullability and
allowed values. The generator writes to it, the loader validates against it,
and the Great Expectations suites in ``expectations/`` are checked against it
by a test, so the three cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONTRACT_VERSION = 1
EXTRACT_TYPES = ("full", "delta")
FILE_EXTENSIONS = ("csv", "csv.gz", "parquet")
TABLES = ("persons", "crimes", "charges")

DROP_DIR_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LSOA_CODE_PATTERN = r"^E01\d{6}$"
ETHNICITY_CODE_PATTERN = r"^([WMABO][1-9]|NS)$"

SEX_VALUES = ("M", "F", "X", "U")
PERSON_STATUS_VALUES = ("active", "deleted")
CRIME_STATUS_VALUES = ("active", "cancelled", "deleted")
CHARGE_STATUS_VALUES = ("active", "deleted")
WEAPON_TYPE_VALUES = (
    "none",
    "knife_or_sharp_instrument",
    "firearm",
    "blunt_instrument",
    "other",
    "unknown",
)
WEAPON_USED_VALUES = ("Y", "N")
INJURY_LEVEL_VALUES = ("none", "minor", "serious", "fatal", "unknown")

#: The contract's rule for "knife crime used causing injury".
KNIFE_WEAPON_TYPE = "knife_or_sharp_instrument"
KNIFE_INJURY_LEVELS = ("minor", "serious", "fatal")


@dataclass(frozen=True)
class Column:
    name: str
    #: one of: string, date, timestamp, integer
    type: str
    nullable: bool
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Column, ...]
    description: str = ""
    #: the column that says when the record's key event happened (for ``covers_from``)
    key_date: str = ""
    references: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


PERSONS = Table(
    name="persons",
    key="person_id",
    key_date="last_modified",
    description="One row per nominal (a person known to CONNECT).",
    columns=(
        Column("person_id", "string", False, description="stable CONNECT nominal id; unique in the file"),
        Column("date_of_birth", "date", True),
        Column("sex", "string", False, allowed=SEX_VALUES, description="U = not known"),
        Column(
            "self_defined_ethnicity",
            "string",
            True,
            pattern=ETHNICITY_CODE_PATTERN,
            description="police self-defined ethnicity code W1-W9, M1-M9, A1-A9, B1-B9, O1-O9 or NS",
        ),
        Column("home_lsoa_code", "string", True, pattern=LSOA_CODE_PATTERN),
        Column("last_modified", "timestamp", False),
        Column("record_status", "string", False, allowed=PERSON_STATUS_VALUES),
    ),
)

CRIMES = Table(
    name="crimes",
    key="crime_id",
    key_date="recorded_at",
    description="One row per recorded crime.",
    columns=(
        Column("crime_id", "string", False, description="unique in the file"),
        Column("offence_code", "string", False, description="Home Office offence classification code, as now classified"),
        Column("offence_description", "string", True),
        Column("recorded_at", "timestamp", False),
        Column("committed_from", "timestamp", False),
        Column("committed_to", "timestamp", True),
        Column("easting", "integer", True, description="British National Grid metres"),
        Column("northing", "integer", True, description="British National Grid metres"),
        Column("lsoa_code", "string", True, pattern=LSOA_CODE_PATTERN),
        Column("weapon_type", "string", False, allowed=WEAPON_TYPE_VALUES),
        Column("weapon_used", "string", False, allowed=WEAPON_USED_VALUES),
        Column("injury_level", "string", False, allowed=INJURY_LEVEL_VALUES),
        Column("last_modified", "timestamp", False),
        Column("record_status", "string", False, allowed=CRIME_STATUS_VALUES),
    ),
)

CHARGES = Table(
    name="charges",
    key="charge_id",
    key_date="charge_date",
    description="One row per offence charged against a person.",
    references={"person_id": ("persons", "person_id"), "crime_id": ("crimes", "crime_id")},
    columns=(
        Column("charge_id", "string", False, description="unique in the file"),
        Column("person_id", "string", False, description="refers to persons.person_id"),
        Column("crime_id", "string", True, description="refers to crimes.crime_id where the crime is in the extract"),
        Column("charge_date", "date", False),
        Column("offence_code", "string", False, description="Home Office offence classification code charged"),
        Column("last_modified", "timestamp", False),
        Column("record_status", "string", False, allowed=CHARGE_STATUS_VALUES),
    ),
)

TABLE_SPECS: dict[str, Table] = {t.name: t for t in (PERSONS, CRIMES, CHARGES)}


def is_knife_crime_used_causing_injury(weapon_type: str, weapon_used: str, injury_level: str) -> bool:
    """The contract's rule for knife crime used causing injury, for one crime."""
    return (
        weapon_type == KNIFE_WEAPON_TYPE
        and weapon_used == "Y"
        and injury_level in KNIFE_INJURY_LEVELS
    )
