"""Each drop's suite results, kept in ``raw.connect_drop_expectations``: the suites run once per drop.

Ingest validates every drop it applies (:func:`drop_validator`, inside the
drop's transaction, so a full drop whose blocking expectations fail is never
committed) and stores the results with the ingest run's id. The asset checks
report the drops of the latest ingest that applied any (:func:`drops_to_report`)
and the data-quality summary tabulates the same results: neither runs a suite
again. A drop applied without a validator (e.g. by a test) is validated the
first time its results are asked for, and stored then.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from wmp_pipeline.contract import TABLES
from wmp_pipeline.ingest.drops import Drop
from wmp_pipeline.ingest.load import EXPECTATIONS_TABLE, INGEST_RUNS_TABLE, ensure_schema
from wmp_pipeline.quality.force_area import BngBox
from wmp_pipeline.quality.gx.results import DropInfo, SuiteResult
from wmp_pipeline.quality.gx.runner import run_connect_suite
from wmp_pipeline.quality.gx.suites import known_offence_codes


def store_results(con: duckdb.DuckDBPyConnection, ingest_id: str, drop_id: str, results: dict[str, SuiteResult]) -> None:
    """Keep one row per table of the drop (replacing an earlier result of the same drop and table)."""
    now = datetime.now().replace(microsecond=0)
    for table, r in results.items():
        con.execute(f"delete from {EXPECTATIONS_TABLE} where drop_id = ? and table_name = ?", [drop_id, table])
        con.execute(
            f"insert into {EXPECTATIONS_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [drop_id, table, ingest_id or None, now, r.success, r.passed("blocking"), r.to_json()],
        )


def drop_validator(bbox: BngBox, offence_codes: list[str] | None = None):
    """(validator, store) for :func:`wmp_pipeline.ingest.load.ingest_landing`: every table's suite on the drop's rows."""
    codes = offence_codes if offence_codes is not None else known_offence_codes()

    def validate(con: duckdb.DuckDBPyConnection, drop: Drop) -> dict[str, SuiteResult]:
        info = DropInfo(drop.drop_id, drop.extract_date, drop.extract_type)
        return {t: run_connect_suite(con, t, bbox=bbox, offence_codes=codes, drop=info) for t in TABLES}

    def store(con: duckdb.DuckDBPyConnection, ingest_id: str, drop: Drop, results: dict[str, SuiteResult]) -> None:
        store_results(con, ingest_id, drop.drop_id, results)

    return validate, store


def drops_to_report(con: duckdb.DuckDBPyConnection) -> list[DropInfo]:
    """The drops the latest ingest run applied (oldest first); if it applied none, the newest applied drop."""
    ensure_schema(con)
    rows = con.execute(
        f"select drops_applied from {INGEST_RUNS_TABLE} where drops_applied <> '[]' order by started_at desc limit 1"
    ).fetchall()
    ids = json.loads(rows[0][0]) if rows else []
    if ids:
        rows = con.execute(
            "select drop_id, extract_date, extract_type from raw.connect_drop_log where list_contains(?, drop_id) order by extract_date",
            [ids],
        ).fetchall()
    else:
        rows = con.execute(
            "select drop_id, extract_date, extract_type from raw.connect_drop_log order by extract_date desc, drop_id desc limit 1"
        ).fetchall()
    return [DropInfo(*r) for r in rows]


def stored_result(con: duckdb.DuckDBPyConnection, drop_id: str, table: str) -> SuiteResult | None:
    rows = con.execute(
        f"select result_json from {EXPECTATIONS_TABLE} where drop_id = ? and table_name = ?", [drop_id, table]
    ).fetchall()
    return SuiteResult.from_json(rows[0][0]) if rows else None


def results_for(
    con: duckdb.DuckDBPyConnection, table: str, drops: list[DropInfo], bbox: BngBox, offence_codes: list[str] | None = None
) -> list[SuiteResult]:
    """The stored result of each drop for ``table``; a drop never validated is validated now and stored.

    With no drop applied at all, one result whose row-count expectation fails
    (so a blocking check says "nothing loaded"); it is not stored.
    """
    if not drops:
        return [run_connect_suite(con, table, bbox=bbox, offence_codes=offence_codes)]
    out = []
    for d in drops:
        r = stored_result(con, d.drop_id, table)
        if r is None:
            r = run_connect_suite(con, table, bbox=bbox, offence_codes=offence_codes, drop=d)
            store_results(con, "", d.drop_id, {table: r})
        out.append(r)
    return out
