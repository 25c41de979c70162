"""Loading CONNECT drops: order, re-delivery, refusals, quarantine, and faults.

Each fault gets its own test. Every refusal must name the drop and the file
or field, and leave what was already loaded exactly as it was.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.drop_factory import base_drop, charge, crime, csv_bytes, person, rewrite_file, write_drop
from wmp_pipeline.ingest.load import ingest_landing
from wmp_pipeline.ingest.readers import MAX_FIELD_CHARS


@pytest.fixture
def connect_dir(tmp_path: Path) -> Path:
    d = tmp_path / "landing" / "connect"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    yield c
    c.close()


def snapshot(con) -> dict:
    """Everything loaded, as sorted tuples (refusals are logged separately and excluded)."""
    out = {}
    for t in ("connect_persons", "connect_crimes", "connect_charges", "connect_quarantine", "connect_drop_log"):
        out[t] = sorted(map(str, con.execute(f"select * exclude ({_excl(t)}) from raw.{t}").fetchall()))
    return out


def _excl(t: str) -> str:
    return {"connect_quarantine": "quarantined_at", "connect_drop_log": "applied_at"}.get(t, "_loaded_at")


def load_base(con, connect_dir):
    base_drop(connect_dir)
    report = ingest_landing(con, connect_dir)
    assert [r.status for r in report.results] == ["applied"], report.summary()
    return snapshot(con)


def refused_reason(report, drop_id: str) -> str:
    match = [r for r in report.results if r.drop_id == drop_id]
    assert match and match[0].status == "refused", report.summary()
    return match[0].reason


# --- happy paths -------------------------------------------------------------


@pytest.mark.parametrize("ext", ["csv", "csv.gz"])
def test_full_drop_loads_every_row_with_lineage(con, connect_dir, ext):
    base_drop(connect_dir, ext=ext)
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].rows_delivered == 10
    assert report.applied[0].rows_loaded == 10
    row = con.execute(
        "select _drop_id, _extract_type, _file_name, _row_number, easting from raw.connect_crimes where crime_id = 'C2'"
    ).fetchone()
    assert row == ("2026-01-05", "full", f"crimes.{ext}", 2, 407100)
    # a crime with no coordinates is loaded, not dropped
    assert con.execute("select easting is null from raw.connect_crimes where crime_id = 'C3'").fetchone()[0]


def test_parquet_drop_loads(con, connect_dir, tmp_path):
    import pandas as pd

    d = base_drop(connect_dir)
    for table in ("persons", "crimes", "charges"):
        df = pd.read_csv(d / f"{table}.csv", dtype=str, keep_default_na=False)
        df = df.replace({"": None})
        df.to_parquet(d / f"{table}.parquet", index=False)
        data = (d / f"{table}.parquet").read_bytes()
        m = json.loads((d / "manifest.json").read_text())
        del m["files"][f"{table}.csv"]
        import hashlib

        m["files"][f"{table}.parquet"] = {"rows": len(df), "sha256": hashlib.sha256(data).hexdigest()}
        (d / "manifest.json").write_text(json.dumps(m))
        (d / f"{table}.csv").unlink()
    report = ingest_landing(con, connect_dir)
    assert report.applied and report.applied[0].rows_loaded == 10, report.summary()


def test_timestamp_with_offset_is_converted_to_uk_local_time(con, connect_dir):
    write_drop(connect_dir, "2026-07-06", persons=[person("P1")], crimes=[crime("C1", recorded_at="2026-07-01T09:00:00+00:00")])
    ingest_landing(con, connect_dir)
    assert str(con.execute("select recorded_at from raw.connect_crimes").fetchone()[0]) == "2026-07-01 10:00:00"


def test_redelivered_drop_changes_nothing(con, connect_dir):
    before = load_base(con, connect_dir)
    report = ingest_landing(con, connect_dir)
    assert [r.status for r in report.results] == ["already_applied"]
    assert snapshot(con) == before


def test_delta_applies_after_full_and_resolves_quarantine(con, connect_dir):
    base_drop(connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C9", weapon_type="sword")])
    ingest_landing(con, connect_dir)
    q = con.execute("select drop_id, row_number, record_key, reason, resolved_by_drop_id from raw.connect_quarantine").fetchall()
    assert q == [("2026-01-12", 1, "C9", "weapon_type: sword is not one of none|knife_or_sharp_instrument|firearm|blunt_instrument|other|unknown", None)]
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C9", last_modified="2026-01-15T09:00:00")])
    ingest_landing(con, connect_dir)
    assert con.execute("select resolved_by_drop_id from raw.connect_quarantine").fetchone()[0] == "2026-01-19"


def test_delivered_equals_loaded_plus_quarantined_for_every_file(con, connect_dir):
    base_drop(connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C9"), crime("C10", sex="?", easting="x")])
    ingest_landing(con, connect_dir)
    for drop_id, files in con.execute("select drop_id, files from raw.connect_drop_log").fetchall():
        for table, f in json.loads(files).items():
            loaded = con.execute(f"select count(*) from raw.connect_{table} where _drop_id = ?", [drop_id]).fetchone()[0]
            quarantined = con.execute(
                "select count(*) from raw.connect_quarantine where drop_id = ? and table_name = ?", [drop_id, table]
            ).fetchone()[0]
            assert f["rows_delivered"] == loaded + quarantined == f["rows_loaded"] + f["rows_quarantined"]


# --- refusals of whole drops -------------------------------------------------


def test_late_delta_is_applied_not_refused(con, connect_dir):
    base_drop(connect_dir, "2026-01-05")
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C8")])
    ingest_landing(con, connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])  # arrives after 2026-01-19
    report = ingest_landing(con, connect_dir)
    assert [r.drop_id for r in report.applied] == ["2026-01-12"], report.summary()
    assert con.execute("select count(*) from raw.connect_crimes where crime_id = 'C7'").fetchone()[0] == 1
    assert con.execute("select count(*) from raw.connect_drop_refusals").fetchone()[0] == 0


def test_changed_redelivery_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    write_drop(connect_dir, "2026-01-05", persons=[person("P1"), person("P4")])
    report = ingest_landing(con, connect_dir)
    assert "already applied" in refused_reason(report, "2026-01-05")
    assert snapshot(con) == before


def test_checksum_mismatch_is_refused_naming_the_file(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    with open(d / "crimes.csv", "ab") as f:
        f.write(b"C8,8N,,2026-01-02T10:00:00,2026-01-01T10:00:00,,,,,none,N,none,2026-01-02T10:00:00,active\n")
    report = ingest_landing(con, connect_dir)
    reason = refused_reason(report, "2026-01-12")
    assert "crimes.csv" in reason and "sha256" in reason
    assert snapshot(con) == before


def test_row_count_mismatch_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")], manifest_rows={"crimes": 2})
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "crimes.csv has 1 data rows but the manifest says 2" in reason
    assert snapshot(con) == before


def test_missing_file_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    (d / "charges.csv").unlink()
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "charges.csv" in reason and "missing" in reason
    assert snapshot(con) == before


def test_first_drop_must_be_full(con, connect_dir):
    write_drop(connect_dir, "2026-01-05", "delta", persons=[person("P1")])
    assert "no full extract" in refused_reason(ingest_landing(con, connect_dir), "2026-01-05")


def test_a_refused_drop_does_not_stop_later_drops(con, connect_dir):
    load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    (d / "persons.csv").unlink()
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C8")])
    report = ingest_landing(con, connect_dir)
    assert "persons.csv" in refused_reason(report, "2026-01-12")
    assert [r.drop_id for r in report.applied] == ["2026-01-19"]
    assert con.execute("select count(*) from raw.connect_crimes where crime_id = 'C7'").fetchone()[0] == 0
    # the refused drop is retried once it is corrected, and then applied (arrival order does not matter)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    report = ingest_landing(con, connect_dir)
    assert [r.drop_id for r in report.applied] == ["2026-01-12"], report.summary()


# --- file faults -------------------------------------------------------------


def test_truncated_gzip_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime(f"C{i}") for i in range(10, 400)], ext="csv.gz")
    data = (d / "crimes.csv.gz").read_bytes()
    rewrite_file(d, "crimes.csv.gz", data[: len(data) // 2])
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "crimes.csv.gz" in reason and ("truncated" in reason or "cannot be read" in reason)
    assert snapshot(con) == before


def test_wrong_delimiter_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    rewrite_file(d, "crimes.csv", csv_bytes("crimes", [crime("C7")], delimiter=";"))
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "crimes.csv" in reason and "';'-separated" in reason
    assert snapshot(con) == before


def test_missing_column_is_refused_naming_it(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    from wmp_pipeline.contract import CRIMES

    cols = [c for c in CRIMES.column_names if c != "injury_level"]
    rewrite_file(d, "crimes.csv", csv_bytes("crimes", [crime("C7")], columns=cols))
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "crimes.csv" in reason and "missing column(s) injury_level" in reason
    assert snapshot(con) == before


def test_extra_column_is_ignored_and_reported(con, connect_dir):
    load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    from wmp_pipeline.contract import CRIMES

    rows = [{**crime("C7"), "officer_notes": "n/a"}]
    rewrite_file(d, "crimes.csv", csv_bytes("crimes", rows, columns=[*CRIMES.column_names, "officer_notes"]))
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].files["crimes"].extra_columns == ["officer_notes"]
    assert con.execute("select count(*) from raw.connect_crimes where crime_id = 'C7'").fetchone()[0] == 1


def test_non_utf8_bytes_quarantine_the_row_only(con, connect_dir):
    load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7"), crime("C8")])
    body = csv_bytes("crimes", [crime("C7"), crime("C8", offence_description="PLACEHOLDER")])
    rewrite_file(d, "crimes.csv", body.replace(b"PLACEHOLDER", b"caf\xe9 \xff"))
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].files["crimes"].rows_loaded == 1
    row = con.execute("select row_number, reason, raw_record from raw.connect_quarantine where drop_id = '2026-01-12'").fetchone()
    assert row[0] == 2 and "offence_description" in row[1] and "UTF-8" in row[1]
    assert "\\xe9" in row[2]  # the bad bytes are kept, escaped, for the record


def test_empty_file_is_refused(con, connect_dir):
    before = load_base(con, connect_dir)
    d = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    rewrite_file(d, "charges.csv", b"", rows=0)
    reason = refused_reason(ingest_landing(con, connect_dir), "2026-01-12")
    assert "charges.csv" in reason and "empty" in reason
    assert snapshot(con) == before


def test_header_only_file_is_a_valid_empty_table(con, connect_dir):
    load_base(con, connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])  # persons/charges: header only
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].files["persons"].rows_delivered == 0
    assert report.applied[0].files["crimes"].rows_loaded == 1


def test_huge_field_quarantines_the_row(con, connect_dir):
    load_base(con, connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7", offence_description="x" * (MAX_FIELD_CHARS * 50)), crime("C8")])
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].files["crimes"].rows_loaded == 1
    reason = con.execute("select reason from raw.connect_quarantine where drop_id = '2026-01-12'").fetchone()[0]
    assert "offence_description" in reason and "characters long" in reason


def test_duplicated_key_in_file_quarantines_later_copies(con, connect_dir):
    load_base(con, connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7"), crime("C8"), crime("C7", offence_code="5A")])
    report = ingest_landing(con, connect_dir)
    assert report.applied[0].files["crimes"].rows_loaded == 2
    row = con.execute("select row_number, reason from raw.connect_quarantine where drop_id = '2026-01-12'").fetchone()
    assert row == (3, "crime_id C7 is duplicated in the file (first at row 1)")


def test_bad_values_are_quarantined_with_every_reason(con, connect_dir):
    write_drop(
        connect_dir,
        "2026-01-05",
        persons=[person("P1", sex="Z", home_lsoa_code="E0100", date_of_birth="1990-02-30")],
        crimes=[crime("C1", easting="north", recorded_at="yesterday")],
    )
    ingest_landing(con, connect_dir)
    reasons = dict(con.execute("select table_name, reason from raw.connect_quarantine").fetchall())
    assert "sex: Z is not one of M|F|X|U" in reasons["persons"]
    assert "home_lsoa_code: E0100 is not well formed" in reasons["persons"]
    assert "date_of_birth: 1990-02-30 is not a date" in reasons["persons"]
    assert "easting: north is not an integer" in reasons["crimes"]
    assert "recorded_at: yesterday is not an ISO 8601 timestamp" in reasons["crimes"]


def test_run_killed_half_way_leaves_database_consistent_and_rerun_is_identical(tmp_path, connect_dir):
    """SIGKILL the loader after the first table of a drop: the drop is all-or-nothing."""
    base_drop(connect_dir)
    write_drop(connect_dir, "2026-01-12", "delta", persons=[person("P9")], crimes=[crime("C9")], charges=[charge("H9", "P9", "C9")])
    db = tmp_path / "killed.duckdb"
    script = textwrap.dedent(
        f"""
        import os, signal, duckdb
        from pathlib import Path
        import wmp_pipeline.ingest.load as load
        real = load._load_file
        def dying(con, drop, table, now):
            result = real(con, drop, table, now)
            if drop.drop_id == "2026-01-12" and table == "crimes":
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        load._load_file = dying
        con = duckdb.connect({str(db)!r})
        load.ingest_landing(con, Path({str(connect_dir)!r}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    assert proc.returncode == -signal.SIGKILL
    con = duckdb.connect(str(db))
    assert [r[0] for r in con.execute("select drop_id from raw.connect_drop_log").fetchall()] == ["2026-01-05"]
    assert con.execute("select count(*) from raw.connect_persons where _drop_id = '2026-01-12'").fetchone()[0] == 0
    ingest_landing(con, connect_dir)
    killed_then_rerun = snapshot(con)
    con.close()
    clean = duckdb.connect(str(tmp_path / "clean.duckdb"))
    ingest_landing(clean, connect_dir)
    assert snapshot(clean) == killed_then_rerun
    clean.close()
    assert os.stat(db).st_size > 0
