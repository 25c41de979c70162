"""Running the Great Expectations suites in ``expectations/`` on the raw CONNECT tables.

Each suite is a Great Expectations 1.x JSON suite (``expectations/connect_<table>.json``)
whose expectations carry ``meta.severity`` (``blocking`` or ``warning``) and a
``meta.note`` saying why the rule exists. This module runs a suite with GX
directly (dagster-ge does not support GX 1.x): an ephemeral context, a pandas
data source, one whole-DataFrame batch, ``batch.validate(suite)``.

What is validated: the rows of the **latest applied drop** (``_drop_id``) of
``raw.connect_<table>``, only the columns the suite names plus lineage. A drop
larger than ``max_rows`` is sampled by key hash, and every row whose key is
null or repeated is added back, so the blocking key rules (not null, unique)
stay exact while the other rates are estimated; the result says so.

What comes back is a plain :class:`SuiteResult`: success, each expectation's
outcome with its severity and unexpected count / percent, and a few failing
rows with person identifiers masked (:mod:`wmp_pipeline.privacy.scrub`), ready
for Dagster metadata. Great Expectations is imported only when a suite runs,
so loading the Dagster definitions stays fast.
"""

from __future__ import annotations

import csv
import json
import math
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline.contract import TABLE_SPECS
from wmp_pipeline.privacy.scrub import is_identifying_column, mask_identifiers
from wmp_pipeline.quality.force_area import BngBox, force_area_bbox
from wmp_pipeline.settings import EXPECTATIONS_DIR, REFERENCE_OFFENCE_CODES, Settings

SEVERITIES = ("blocking", "warning")
#: GX 1.x has its own severity field; the suites keep it in step with ``meta.severity``.
GX_SEVERITY = {"blocking": "critical", "warning": "warning"}
#: Above this many rows in the latest drop, the suite runs on a key-hash sample.
DEFAULT_MAX_ROWS = 500_000
#: Failing rows kept per failed expectation (after masking).
FAILING_ROWS_PER_EXPECTATION = 5
#: Lineage columns read with every suite so a failing row can be found in its file.
LINEAGE_COLUMNS = ("_drop_id", "_file_name", "_row_number")
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)


# --------------------------------------------------------------------------- suites


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


@dataclass(frozen=True)
class DropInfo:
    """The drop a suite run looks at."""

    drop_id: str
    extract_date: date
    extract_type: str


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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, safe to show (no identifying values)."""

    label: str
    expectation_type: str
    columns: tuple[str, ...]
    severity: str
    note: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: str | None = None
    #: (value, count) of the commonest unexpected values; empty for identifying columns
    top_unexpected_values: tuple[tuple[str, int], ...] = ()
    exception: str | None = None
    #: the failing rows kept for display, identifiers masked
    failing_rows: tuple[dict, ...] = ()


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    table: str
    drop_id: str | None
    extract_date: date | None
    extract_type: str | None
    rows_in_drop: int
    rows_validated: int
    sampled: bool
    sample_note: str
    elapsed_s: float
    outcomes: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def outcomes_for(self, severity: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == severity]

    def failures(self, severity: str | None = None) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and (severity is None or o.severity == severity)]

    def passed(self, severity: str) -> bool:
        return not self.failures(severity)

    def failing_rows(self, severity: str | None = None, limit: int = 20) -> pd.DataFrame:
        """A sample of failing rows (identifiers masked), one line per (expectation, row)."""
        rows = [dict(check=o.label, **r) for o in self.failures(severity) for r in o.failing_rows]
        return pd.DataFrame(rows[:limit])

    def summary_frame(self) -> pd.DataFrame:
        """One row per expectation: what it checks, severity, outcome, counts."""
        return pd.DataFrame(
            [
                {
                    "expectation": o.label,
                    "severity": o.severity,
                    "success": o.success,
                    "unexpected_count": o.unexpected_count,
                    "unexpected_percent": None if o.unexpected_percent is None else round(o.unexpected_percent, 3),
                    "observed": o.observed_value,
                    "note": o.note,
                }
                for o in self.outcomes
            ]
        )


# --------------------------------------------------------------------------- validation


def _label(exp_type: str, columns: list[str]) -> str:
    short = exp_type.removeprefix("expect_")
    return f"{short}({', '.join(columns)})" if columns else short


def _exception_message(info: Any) -> str | None:
    """The first raised exception's message in a GX ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")[:300]
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")[:300]
    return None


def _show(value: Any) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # list-like values
        pass
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _failing_rows(df: pd.DataFrame, index_list: list, columns: list[str], key_column: str | None, n: int) -> tuple[dict, ...]:
    if not index_list or df.empty:
        return ()
    show = [c for c in ("_file_name", "_row_number") if c in df.columns]
    if key_column and key_column in df.columns and key_column not in show:
        show.append(key_column)
    show += [c for c in columns if c in df.columns and c not in show]
    idx = [i for i in index_list[:n] if i in df.index]
    sample = mask_identifiers(df.loc[idx, show])
    return tuple({c: _show(v) for c, v in row.items()} for row in sample.to_dict(orient="records"))


def _top_unexpected(df: pd.DataFrame, exp: dict, columns: list[str], parameters: dict, result: dict) -> tuple[tuple[str, int], ...]:
    if len(columns) != 1 or is_identifying_column(columns[0]) or columns[0] not in df.columns:
        return ()
    col = columns[0]
    value_set = exp.get("kwargs", {}).get("value_set")
    if isinstance(value_set, dict) and "$PARAMETER" in value_set:
        value_set = parameters.get(value_set["$PARAMETER"])
    if exp["type"] == "expect_column_values_to_be_in_set" and isinstance(value_set, list):
        # Exact counts: an unknown offence code is "kept and reported", so report all of them.
        s = df[col]
        bad = s[s.notna() & ~s.isin(value_set)]
        return tuple((_show(v), int(c)) for v, c in bad.value_counts().head(10).items())
    counts = result.get("partial_unexpected_counts") or []
    return tuple((_show(c.get("value")), int(c.get("count", 0))) for c in counts[:10])


def validate_dataframe(
    df: pd.DataFrame,
    suite: dict,
    parameters: dict[str, Any],
    *,
    table: str = "",
    key_column: str | None = None,
    drop: DropInfo | None = None,
    rows_in_drop: int | None = None,
    sample_note: str = "",
    failing_rows_per_expectation: int = FAILING_ROWS_PER_EXPECTATION,
) -> SuiteResult:
    """Run a suite (as JSON dict) on a DataFrame with Great Expectations 1.x.

    ``parameters`` fills the suite's ``$PARAMETER`` placeholders. ``df`` must
    have a unique index (failing rows are looked up by it).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    missing = suite_parameter_names(suite) - set(parameters)
    if missing:
        raise ValueError(f"suite {suite.get('name')} needs parameter(s) {sorted(missing)}")
    start = time.monotonic()
    gx_suite = gx.ExpectationSuite(
        name=suite["name"],
        expectations=[{k: v for k, v in e.items() if k != "id"} for e in suite["expectations"]],
        meta=suite.get("meta"),
    )
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    name = f"{suite['name']}_{uuid.uuid4().hex[:8]}"
    batch_definition = (
        context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    with warnings.catch_warnings():
        # pandas warns that a regex with a group (the ethnicity code list) is used only to match
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
        validation = batch.validate(
            gx_suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
            expectation_parameters=parameters,
        )

    # GX returns results in its own order; match each back to its JSON (for severity, note, order).
    positions: dict[str, list[int]] = {}
    for i, exp in enumerate(suite["expectations"]):
        positions.setdefault(_config_key(exp["type"], exp.get("kwargs", {})), []).append(i)

    ranked: list[tuple[int, ExpectationOutcome]] = []
    for r in validation.results:
        config = r.expectation_config
        matches = positions.get(_config_key(config.type, config.kwargs)) or [len(suite["expectations"])]
        position = matches.pop(0) if len(matches) > 1 else matches[0]
        exp_json = suite["expectations"][position] if position < len(suite["expectations"]) else {"type": config.type, "kwargs": {}}
        columns = expectation_columns({"kwargs": dict(config.kwargs)})
        meta = dict(config.meta or {})
        res = dict(r.result or {})
        identifying = any(is_identifying_column(c) for c in columns)
        observed = res.get("observed_value")
        outcome = ExpectationOutcome(
            label=_label(config.type, columns),
            expectation_type=config.type,
            columns=tuple(columns),
            severity=meta.get("severity", "warning"),
            note=meta.get("note", ""),
            success=bool(r.success),
            element_count=res.get("element_count"),
            unexpected_count=res.get("unexpected_count"),
            unexpected_percent=res.get("unexpected_percent"),
            observed_value=None if observed is None or identifying else _show(observed)[:120],
            top_unexpected_values=() if r.success else _top_unexpected(df, exp_json, columns, parameters, res),
            exception=_exception_message(r.exception_info),
            failing_rows=()
            if r.success
            else _failing_rows(
                df, list(res.get("partial_unexpected_index_list") or []), columns, key_column, failing_rows_per_expectation
            ),
        )
        ranked.append((position, outcome))
    ranked.sort(key=lambda p: (SEVERITIES.index(p[1].severity), p[1].success, p[0]))
    outcomes = [o for _, o in ranked]
    return SuiteResult(
        suite_name=suite["name"],
        table=table,
        drop_id=drop.drop_id if drop else None,
        extract_date=drop.extract_date if drop else None,
        extract_type=drop.extract_type if drop else None,
        rows_in_drop=len(df) if rows_in_drop is None else rows_in_drop,
        rows_validated=len(df),
        sampled=rows_in_drop is not None and rows_in_drop > len(df),
        sample_note=sample_note,
        elapsed_s=round(time.monotonic() - start, 3),
        outcomes=tuple(outcomes),
    )


def _config_key(exp_type: str, kwargs: dict) -> str:
    cols = expectation_columns({"kwargs": dict(kwargs)})
    extra = {k: kwargs[k] for k in ("regex", "type_", "column_list") if k in kwargs}
    return json.dumps([exp_type, cols, extra], default=str, sort_keys=True)


# --------------------------------------------------------------------------- reading DuckDB


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def latest_drop(con: duckdb.DuckDBPyConnection, table: str | None = None) -> DropInfo | None:
    """The newest applied drop: from ``raw.connect_drop_log``, else from the table's own lineage."""
    if _table_columns(con, "raw", "connect_drop_log"):
        row = con.execute(
            "select drop_id, extract_date, extract_type from raw.connect_drop_log order by extract_date desc, drop_id desc limit 1"
        ).fetchone()
        if row:
            return DropInfo(row[0], row[1], row[2])
    if table and {"_drop_id", "_extract_date", "_extract_type"} <= set(_table_columns(con, "raw", f"connect_{table}")):
        row = con.execute(
            f"select _drop_id, _extract_date, _extract_type from raw.connect_{table} order by _extract_date desc limit 1"
        ).fetchone()
        if row:
            return DropInfo(row[0], row[1], row[2])
    return None


def _vectorisable(df: pd.DataFrame) -> pd.DataFrame:
    """Widen dtypes so GX's range checks run vectorised.

    DuckDB hands DATE / TIMESTAMP over as ``datetime64[us]`` and INTEGER as
    ``int32``; GX compares only ``datetime64[ns]``, ``int64`` and ``float64``
    columns vectorised (anything else goes through a per-value Python function,
    about 10x slower). Widening keeps the type family the suites check. Values
    outside the nanosecond range (before 1677 or after 2262) keep their unit.
    """
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, np.dtype) and np.issubdtype(dtype, np.signedinteger) and dtype != np.int64:
            df[col] = df[col].astype(np.int64)
        elif pd.api.types.is_datetime64_dtype(dtype) and str(dtype) != "datetime64[ns]":
            try:
                df[col] = df[col].astype("datetime64[ns]")
            except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
                pass
    return df


def read_drop_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], drop_id: str, max_rows: int = DEFAULT_MAX_ROWS
) -> tuple[pd.DataFrame, int, str]:
    """The rows of one drop in ``raw.connect_<table>``: (frame, rows in the drop, sampling note).

    Only ``columns`` that exist are read (a missing one is reported by the
    suite's ``expect_column_to_exist``). Above ``max_rows``, a deterministic
    sample by key hash is taken, plus every row whose key is null or repeated.
    """
    spec = TABLE_SPECS[table]
    relation = f"raw.connect_{table}"
    present = set(_table_columns(con, "raw", f"connect_{table}"))
    wanted = [c for c in dict.fromkeys([*LINEAGE_COLUMNS, spec.key, *columns]) if c in present]
    if not wanted:
        return pd.DataFrame(), 0, ""
    total = con.execute(f"select count(*) from {relation} where _drop_id = ?", [drop_id]).fetchone()[0]
    select = ", ".join(_q(c) for c in wanted)
    order = " order by _file_name, _row_number" if {"_file_name", "_row_number"} <= present else ""
    if total <= max_rows or spec.key not in present:
        df = con.execute(f"select {select} from {relation} where _drop_id = ?{order}", [drop_id]).df()
        return _vectorisable(df.reset_index(drop=True)), total, ""
    modulus = math.ceil(total / max_rows)
    key = _q(spec.key)
    df = con.execute(
        f"""
        with d as (
            select {select}, count(*) over (partition by {key}) as _n_key
            from {relation} where _drop_id = ?
        )
        select {select} from d
        where {key} is null or _n_key > 1 or hash({key}) % {modulus} = 0
        {order}""",
        [drop_id],
    ).df()
    note = (
        f"sampled {len(df):,} of {total:,} rows (1 in {modulus} keys by hash, plus every row with a null or repeated "
        f"{spec.key}): key checks are exact, other counts and percentages are estimates from the sample"
    )
    return _vectorisable(df.reset_index(drop=True)), total, note


def run_connect_suite(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    settings: Settings | None = None,
    bbox: BngBox | None = None,
    offence_codes: list[str] | None = None,
    drop: DropInfo | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    suite: dict | None = None,
) -> SuiteResult:
    """Validate the latest applied drop of ``raw.connect_<table>`` against its suite.

    With no drop applied yet (or no raw table), returns a result whose
    row-count expectation fails, so a blocking check says "nothing loaded".
    """
    suite = suite or load_suite_json(table)
    drop = drop or latest_drop(con, table)
    bbox = bbox or force_area_bbox(settings)
    offence_codes = offence_codes if offence_codes is not None else known_offence_codes()
    if drop is None:
        df, total, note = pd.DataFrame(), 0, "no drop has been applied"
        drop_for_params = DropInfo("none", date.today(), "full")
    else:
        df, total, note = read_drop_rows(con, table, suite_columns(suite), drop.drop_id, max_rows=max_rows)
        drop_for_params = drop
    return validate_dataframe(
        df,
        suite,
        suite_parameters(drop_for_params, bbox, offence_codes),
        table=table,
        key_column=TABLE_SPECS[table].key,
        drop=drop,
        rows_in_drop=total,
        sample_note=note,
    )

