"""The data-quality summary tables: quarantine rules without values, expectation results, reconciliation."""

from __future__ import annotations

import duckdb

from tests.drop_factory import base_drop, crime, person, write_drop
from tests.raw_tables import clean_drop, crime_row, warehouse_with
from wmp_pipeline.ingest.load import ingest_landing
from wmp_pipeline.quality.gx.runner import run_connect_suite
from wmp_pipeline.quality.reconciliation import reconcile_drops
from wmp_pipeline.quality.summary import (
    EXPECTATION_RESULTS_TABLE,
    QUARANTINE_SUMMARY_TABLE,
    RECONCILIATION_TABLE,
    expectation_results_frame,
    quarantine_summary,
    reason_rules,
    write_quality_tables,
)


def test_reason_rules_drop_the_quoted_values():
    assert reason_rules("person_id: empty, but required") == ["person_id: empty, but required"]
    assert reason_rules("recorded_at: 2026-13-45T00:00 is not an ISO 8601 timestamp; easting: 12a is not an integer") == [
        "recorded_at: is not an ISO 8601 timestamp",
        "easting: is not an integer",
    ]
    assert reason_rules("sex: male is not one of M|F|X|U") == ["sex: not an allowed value"]
    assert reason_rules("home_lsoa_code: W01000001 is not well formed") == ["home_lsoa_code: not well formed"]
    assert reason_rules("person_id P-881 is duplicated in the file (first at row 3)") == ["person_id: duplicated in the file"]
    assert reason_rules("row has 5 fields, the header has 7") == ["row: wrong number of fields"]
    assert reason_rules("row field offence_description is 12,001 characters long (limit 10,000)") == [
        "row: field offence_description too long"
    ]
    assert reason_rules("something new: P-881") == ["other"]


def test_quarantine_summary_from_a_real_load_holds_no_keys_or_values(tmp_path):
    connect_dir = tmp_path / "connect"
    base_drop(connect_dir, "2026-01-05")
    write_drop(
        connect_dir,
        "2026-01-12",
        "delta",
        persons=[person("NOMINAL-1", sex="male"), person("NOMINAL-1"), person("NOMINAL-2", home_lsoa_code="W01000001")],
        crimes=[crime("C5", lsoa_code="X"), crime("C6", easting="12a")],
        charges=[],
    )
    con = duckdb.connect()
    assert not ingest_landing(con, connect_dir).refused
    summary = quarantine_summary(con)
    rules = {(r.table_name, r.rule): r.rows_quarantined for r in summary.itertuples()}
    assert rules == {
        ("persons", "sex: not an allowed value"): 1,
        ("persons", "person_id: duplicated in the file"): 1,
        ("persons", "home_lsoa_code: not well formed"): 1,
        ("crimes", "lsoa_code: not well formed"): 1,
        ("crimes", "easting: is not an integer"): 1,
    }
    assert set(summary["rows_open"]) == {1}
    text = summary.to_csv()
    assert "NOMINAL" not in text and "W01000001" not in text and "12a" not in text


def test_write_quality_tables_creates_the_three_tables_with_comments():
    rows = clean_drop()
    rows["crimes"].append(crime_row("C90", offence_code="999Z"))
    con = warehouse_with(rows, quarantined={"persons": 2})
    results = [run_connect_suite(con, t) for t in ("persons", "crimes", "charges")]
    counts = write_quality_tables(con, reconcile_drops(con), quarantine_summary(con), expectation_results_frame(results))
    assert counts[RECONCILIATION_TABLE] == 3
    assert counts[QUARANTINE_SUMMARY_TABLE] == 1
    assert counts[EXPECTATION_RESULTS_TABLE] == sum(len(r.outcomes) for r in results)
    failed = con.execute(
        f"select table_name, expectation, severity, top_unexpected_values from {EXPECTATION_RESULTS_TABLE} where not success"
    ).fetchall()
    assert failed == [("crimes", "column_values_to_be_in_set(offence_code)", "warning", "999Z (1)")]
    comments = dict(con.execute("select table_name, comment from duckdb_tables() where schema_name = 'main'").fetchall())
    assert all(comments[t] for t in (RECONCILIATION_TABLE, QUARANTINE_SUMMARY_TABLE, EXPECTATION_RESULTS_TABLE))
    assert con.execute(f"select bool_and(balanced) from {RECONCILIATION_TABLE}").fetchone()[0] is True
