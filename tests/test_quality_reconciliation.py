"""delivered = loaded + quarantined, per drop and file; a lost row is caught."""

from __future__ import annotations

import duckdb

from tests.drop_factory import base_drop, crime, person, write_drop
from tests.raw_tables import add_drop, clean_drop, warehouse_with
from wmp_pipeline.ingest.load import ingest_landing
from wmp_pipeline.quality.metadata import reconciliation_check_metadata
from wmp_pipeline.quality.reconciliation import reconcile_drops


def _ingested(tmp_path) -> duckdb.DuckDBPyConnection:
    """Two drops through the real loader; the second quarantines two crimes rows."""
    connect_dir = tmp_path / "connect"
    base_drop(connect_dir, "2026-01-05")
    write_drop(
        connect_dir,
        "2026-01-12",
        "delta",
        persons=[person("P4")],
        crimes=[crime("C5"), crime("C6", lsoa_code="X"), crime("C7", weapon_used="maybe"), crime("")],
        charges=[],
    )
    con = duckdb.connect()
    report = ingest_landing(con, connect_dir)
    assert [r.status for r in report.results] == ["applied", "applied"]
    return con


def test_real_ingest_reconciles(tmp_path):
    con = _ingested(tmp_path)
    report = reconcile_drops(con)
    assert report.balanced, report.problems
    assert len(report.files) == 6  # 2 drops x 3 files
    crimes = {f.drop_id: f for f in report.for_table("crimes").files}
    assert crimes["2026-01-12"].rows_delivered == 4
    assert crimes["2026-01-12"].rows_in_quarantine == 3  # bad LSOA, bad weapon_used, empty key
    assert crimes["2026-01-12"].rows_in_raw == 1


def test_a_row_deleted_from_a_raw_table_is_caught(tmp_path):
    con = _ingested(tmp_path)
    con.execute("delete from raw.connect_crimes where crime_id = 'C2'")
    report = reconcile_drops(con)
    assert not report.balanced
    bad = [f for f in report.files if not f.balanced]
    assert [(f.drop_id, f.table, f.missing) for f in bad] == [("2026-01-05", "crimes", 1)]
    assert "1 delivered row(s) neither loaded nor quarantined" in report.problems[0]
    assert "drop 2026-01-05 crimes.csv" in report.problems[0]
    assert report.for_table("persons").balanced and not report.for_table("crimes").balanced


def test_a_quarantine_row_lost_is_caught(tmp_path):
    con = _ingested(tmp_path)
    con.execute("delete from raw.connect_quarantine where rowid = (select min(rowid) from raw.connect_quarantine)")
    assert not reconcile_drops(con).for_table("crimes").balanced


def test_a_row_loaded_twice_is_caught():
    con = warehouse_with()
    con.execute("insert into raw.connect_charges select * from raw.connect_charges limit 1")
    report = reconcile_drops(con)
    (bad,) = [f for f in report.files if not f.balanced]
    assert bad.table == "charges" and bad.missing == -1
    assert "more row(s) than were delivered" in bad.problem


def test_rows_from_a_drop_missing_from_the_log_are_reported():
    con = warehouse_with()
    con.execute("update raw.connect_persons set _drop_id = '2026-11-30' where person_id = 'P1'")
    report = reconcile_drops(con)
    assert not report.balanced
    assert report.unlogged == (("persons", "2026-11-30", 1),)
    assert any("not in the drop log" in p for p in report.problems)


def test_quarantined_rows_count_as_delivered():
    con = warehouse_with(clean_drop(), quarantined={"crimes": 3})
    report = reconcile_drops(con)
    assert report.balanced
    crimes = report.for_table("crimes").files[0]
    assert (crimes.rows_delivered, crimes.rows_in_raw, crimes.rows_in_quarantine) == (11, 8, 3)


def test_empty_warehouse_has_nothing_to_reconcile():
    report = reconcile_drops(duckdb.connect())
    assert report.balanced and report.files == ()


def test_metadata_counts_and_names_the_broken_file():
    con = duckdb.connect()
    add_drop(con, "2026-11-16", clean_drop())
    add_drop(con, "2026-11-23", clean_drop(), extract_type="delta")
    con.execute("delete from raw.connect_crimes where _drop_id = '2026-11-23' and crime_id = 'C8'")
    meta = reconciliation_check_metadata(reconcile_drops(con).for_table("crimes"))
    assert meta["drops"] == 2 and meta["files_unbalanced"] == 1 and meta["rows_missing"] == 1
    assert meta["rows_delivered"] == 16 and meta["rows_loaded"] == 15
    assert "2026-11-23" in meta["problems"][1]


def test_a_drop_log_without_a_tables_counts_does_not_reconcile():
    con = warehouse_with()
    con.execute("update raw.connect_drop_log set files = json_object('persons', json_extract(files, '$.persons'))")
    report = reconcile_drops(con)
    assert report.for_table("persons").balanced
    (crimes,) = report.for_table("crimes").files
    assert not crimes.balanced and "no delivered / loaded / quarantined counts" in crimes.problem
