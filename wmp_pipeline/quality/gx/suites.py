"""Loading the Great Expectations suites in ``expectations/`` and filling their run-time parameters.

Each suite is a Great Expectations 1.x JSON suite (``expectations/connect_<table>.json``)
whose expectations carry ``meta.severity`` (``blocking`` or ``warning``) and a
``meta.note`` saying why the rule exists.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd

from wmp_pipeline.quality.force_area import BngBox
from wmp_pipeline.quality.gx.results import DropInfo
from wmp_pipeline.settings import EXPECTATIONS_DIR, REFERENCE_OFFENCE_CODES

SEVERITIES = ("blocking", "warning")
#: GX 1.x has its own severity field; the suites keep it in step with ``meta.severity``.
GX_SEVERITY = {"blocking": "critical", "warning": "warning"}
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)


def suite_path(table: str) -> Path:
    """``expectations/connect_<table>.json`` for a contract table name (persons, crimes, charges)."""
    return EXPECTATIONS_DIR / f"connect_{table}.json"


def load_suite_json(table_or_path: str | Path) -> dict:
    """The suite as a dict: from a contract table name or a path to a JSON file."""
    path = Path(table_or_path) if str(table_or_path).endswith(".json") else suite_path(str(table_or_path))
    with open(path, encoding="utf-8") as f:
        suite = json.load(f)
    for i, exp in enumerate(suite.get("expectations", [])):
        severity = exp.get("meta", {}).get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"{path.name}: expectation {i} ({exp.get('type')}) has meta.severity {severity!r}; expected one of {SEVERITIES}")
    return suite


def expectation_columns(expectation: dict) -> list[str]:
    """The columns one expectation (as JSON) reads."""
    kwargs = expectation.get("kwargs", {})
    cols = [kwargs[k] for k in _COLUMN_KWARGS if isinstance(kwargs.get(k), str)]
    for k in _COLUMN_LIST_KWARGS:
        cols.extend(kwargs.get(k) or [])
    return cols


def suite_columns(suite: dict) -> list[str]:
    """Every column any expectation of the suite reads, in first-use order."""
    seen: dict[str, None] = {}
    for exp in suite["expectations"]:
        for c in expectation_columns(exp):
            seen.setdefault(c, None)
    return list(seen)


def suite_parameter_names(suite: dict) -> set[str]:
    """Names of the ``{"$PARAMETER": name}`` values the suite needs at run time."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"$PARAMETER"}:
                names.add(value["$PARAMETER"])
            else:
                for v in value.values():
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for exp in suite["expectations"]:
        walk(exp.get("kwargs", {}))
    return names


def known_offence_codes(path: Path = REFERENCE_OFFENCE_CODES) -> list[str]:
    """Offence codes in the reference seed (``dbt_project/seeds/ref_offence_codes.csv``)."""
    with open(path, newline="", encoding="utf-8") as f:
        return sorted({row["offence_code"].strip() for row in csv.DictReader(f) if row.get("offence_code")})


def suite_parameters(drop: DropInfo, bbox: BngBox, offence_codes: list[str]) -> dict[str, Any]:
    """Run-time values for the suites' ``$PARAMETER`` placeholders.

    ``extract_end`` is 00:00 on the day after the extract date: the feed runs on
    the extract date, so nothing in it can be later than that day.
    """
    return {
        "min_rows": 1 if drop.extract_type == "full" else 0,
        "extract_end": pd.Timestamp(drop.extract_date) + pd.Timedelta(days=1),
        "known_offence_codes": list(offence_codes),
        **bbox.as_suite_parameters(),
    }
