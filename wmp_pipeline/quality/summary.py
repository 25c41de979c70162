"""Data-quality summary tables for the analyst file.

Three small tables in the working database, published with the analyst
tables so that anyone reading a forecast can see how clean the data under
it was:

``dq_drop_reconciliation``
    per drop and file: delivered, loaded, quarantined, missing, balanced
    (:mod:`wmp_pipeline.quality.reconciliation`).
``dq_quarantine_summary``
    per drop, table and broken rule: quarantined rows, still-open rows. The
    rule is the quarantine reason **with the offending value removed**
    (``person_id: duplicated in the file``), because a reason quotes the
    value and the value may be a person identifier.
``dq_expectation_results``
    per table, drop and expectation of the drops the latest ingest applied
    (their Great Expectations results, stored when the drop was applied):
    severity, success, unexpected count and percent, sampling note.
``dq_drop_sequence``
    one row per gap in the weekly drop sequence: the drops either side, and
    how many drops are missing and when they were expected. Empty when none is.
``dq_drop_refusals``
    the drops the latest ingest refused, with the reason (they changed nothing;
    docs/data_quality.md says what the operator does).
"""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pandas as pd

from wmp_pipeline.privacy.scrub import is_identifying_column
from wmp_pipeline.quality.gx.results import SuiteResult
from wmp_pipeline.quality.reconciliation import ReconciliationReport
from wmp_pipeline.tables import (
    CONNECT_QUARANTINE,
    DQ_DROP_RECONCILIATION,
    DQ_DROP_REFUSALS,
    DQ_DROP_SEQUENCE,
    DQ_EXPECTATION_RESULTS,
    DQ_QUARANTINE_SUMMARY,
)
from wmp_pipeline.warehouse import table_exists

RECONCILIATION_TABLE = DQ_DROP_RECONCILIATION
QUARANTINE_SUMMARY_TABLE = DQ_QUARANTINE_SUMMARY
EXPECTATION_RESULTS_TABLE = DQ_EXPECTATION_RESULTS
DROP_SEQUENCE_TABLE = DQ_DROP_SEQUENCE
DROP_REFUSALS_TABLE = DQ_DROP_REFUSALS
QUALITY_TABLES = (
    RECONCILIATION_TABLE,
    QUARANTINE_SUMMARY_TABLE,
    EXPECTATION_RESULTS_TABLE,
    DROP_SEQUENCE_TABLE,
    DROP_REFUSALS_TABLE,
)
DROP_SEQUENCE_COLUMNS = ["previous_drop", "next_drop", "gap_days", "missing_drops", "expected_dates"]
DROP_REFUSALS_COLUMNS = ["drop_id", "reason"]

_TABLE_COMMENTS = {
    RECONCILIATION_TABLE: "Per CONNECT drop and file: rows delivered = loaded + quarantined (balanced), from the drop log and a recount.",
    QUARANTINE_SUMMARY_TABLE: "Per CONNECT drop, table and broken contract rule: rows quarantined and rows still open (no values, no record keys).",
    EXPECTATION_RESULTS_TABLE: "Great Expectations results for the CONNECT drops of the latest ingest: one row per table, drop and expectation, with severity (blocking|warning).",
    DROP_SEQUENCE_TABLE: "Gaps in the weekly CONNECT drop sequence: the applied drops either side, the number of missing drops and their expected dates.",
    DROP_REFUSALS_TABLE: "CONNECT drops the latest ingest refused, with the reason; a refused drop changed nothing.",
}

# Quarantine reasons as written by wmp_pipeline.ingest.validate / readers, value removed.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<col>[\w]+): empty, but required$"), "{col}: empty, but required"),
    (re.compile(r"^(?P<col>[\w]+): holds a NUL byte$"), "{col}: holds a NUL byte"),
    (re.compile(r"^(?P<col>[\w]+): .* is not (?P<what>a date YYYY-MM-DD|an ISO 8601 timestamp|an integer)$", re.S), "{col}: is not {what}"),
    (re.compile(r"^(?P<col>[\w]+): .* is not one of .*$", re.S), "{col}: not an allowed value"),
    (re.compile(r"^(?P<col>[\w]+): .* is not well formed$", re.S), "{col}: not well formed"),
    (re.compile(r"^(?P<col>[\w]+) .* is duplicated in the file.*$", re.S), "{col}: duplicated in the file"),
    (re.compile(r"^row has \d+ fields, the header has \d+$"), "row: wrong number of fields"),
    (re.compile(r"^row field (?P<col>[\w]+) is [\d,]+ characters long.*$"), "row: field {col} too long"),
    (re.compile(r"^row field (?P<col>[\w]+) holds bytes that are not valid UTF-8$"), "row: field {col} not valid UTF-8"),
)


def reason_rules(reason: str) -> list[str]:
    """The broken rules in a quarantine reason, without the values it quotes.

    A reason is one or more problems joined by ``'; '``. An unrecognised
    problem becomes ``"other"`` rather than being shown, since it may quote a
    value.
    """
    rules = []
    for part in (p.strip() for p in (reason or "").split("; ")):
        if not part:
            continue
        for pattern, template in _RULES:
            m = pattern.match(part)
            if m:
                rules.append(template.format(**m.groupdict()))
                break
        else:
            rules.append("other")
    return rules


def quarantine_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Quarantined rows per drop, table and rule (a row breaking two rules counts under both)."""
    columns = ["drop_id", "table_name", "rule", "rows_quarantined", "rows_open"]
    if not table_exists(con, CONNECT_QUARANTINE):
        return pd.DataFrame(columns=columns)
    grouped = con.execute(
        f"""select drop_id, table_name, reason, count(*) as n, count(*) filter (where resolved_by_drop_id is null) as n_open
           from {CONNECT_QUARANTINE} group by all"""
    ).fetchall()
    counts: dict[tuple[str, str, str], list[int]] = {}
    for drop_id, table_name, reason, n, n_open in grouped:
        for rule in dict.fromkeys(reason_rules(reason)):
            c = counts.setdefault((drop_id, table_name, rule), [0, 0])
            c[0] += n
            c[1] += n_open
    rows = [(d, t, r, n, o) for (d, t, r), (n, o) in sorted(counts.items())]
    return pd.DataFrame(rows, columns=columns)


def expectation_results_frame(results: list[SuiteResult], checked_at: datetime | None = None) -> pd.DataFrame:
    """One row per table and expectation; unexpected values only for non-identifying columns."""
    checked_at = checked_at or datetime.now().replace(microsecond=0)
    rows = []
    for r in results:
        for o in r.outcomes:
            show_values = not any(is_identifying_column(c) for c in o.columns)
            rows.append(
                {
                    "table_name": r.table,
                    "drop_id": r.drop_id,
                    "expectation": o.label,
                    "severity": o.severity,
                    "success": o.success,
                    "unexpected_count": o.unexpected_count,
                    "unexpected_percent": o.unexpected_percent,
                    "top_unexpected_values": ", ".join(f"{v} ({n})" for v, n in o.top_unexpected_values) if show_values else None,
                    "rows_in_drop": r.rows_in_drop,
                    "rows_validated": r.rows_validated,
                    "sample_note": r.sample_note or None,
                    "note": o.note,
                    "checked_at": checked_at,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "table_name", "drop_id", "expectation", "severity", "success", "unexpected_count", "unexpected_percent",
            "top_unexpected_values", "rows_in_drop", "rows_validated", "sample_note", "note", "checked_at",
        ],
    )


def write_quality_tables(
    con: duckdb.DuckDBPyConnection,
    reconciliation: ReconciliationReport,
    quarantine: pd.DataFrame,
    expectation_results: pd.DataFrame,
    schema: str = "main",
    drop_gaps: list[dict] | None = None,
    refusals: dict[str, str] | None = None,
) -> dict[str, int]:
    """Replace the summary tables in ``schema``; returns their row counts."""
    frames = {
        RECONCILIATION_TABLE: reconciliation.frame(),
        QUARANTINE_SUMMARY_TABLE: quarantine,
        EXPECTATION_RESULTS_TABLE: expectation_results,
        DROP_SEQUENCE_TABLE: pd.DataFrame(drop_gaps or [], columns=DROP_SEQUENCE_COLUMNS).astype(
            {"gap_days": "int64", "missing_drops": "int64"}
        ),
        DROP_REFUSALS_TABLE: pd.DataFrame(list((refusals or {}).items()), columns=DROP_REFUSALS_COLUMNS, dtype="string"),
    }
    out = {}
    for name, frame in frames.items():
        con.register("_dq_frame", frame)
        try:
            con.execute(f'create or replace table {schema}."{name}" as select * from _dq_frame')
        finally:
            con.unregister("_dq_frame")
        comment = _TABLE_COMMENTS[name].replace("'", "''")
        con.execute(f"comment on table {schema}.\"{name}\" is '{comment}'")
        out[name] = len(frame)
    return out
