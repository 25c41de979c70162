"""The fault suite of issue 14 (items 1, 2, 3, 4, 7): one test per fault, on generated drops.

Each test proves that nothing is lost (delivered = loaded + quarantined, or the
whole drop kept in the landing folder and refused), that a refused drop leaves
the state unchanged, and that the next good week is applied on top of the
unchanged state.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.drop_factory import base_drop, charge, crime, person, write_drop
from wmp_pipeline.contract import TABLES
from wmp_pipeline.ingest.config import IngestConfig
from wmp_pipeline.ingest.drops import ready_drop_dirs
from wmp_pipeline.ingest.load import current_state_counts, drop_sequence_gaps, ingest_landing, latest_refusals
from wmp_pipeline.ingest.operator import accept_drop, drop_statuses
from wmp_pipeline.quality.force_area import WEST_MIDLANDS_BBOX
from wmp_pipeline.quality.gx.store import drop_validator, drops_to_report, results_for
from wmp_pipeline.quality.metadata import drops_check_metadata


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


def state(con) -> dict:
    """The raw tables, the quarantine and the drop log: everything a drop can change."""
    out = {}
    for t in ("connect_persons", "connect_crimes", "connect_charges", "connect_quarantine", "connect_drop_log"):
        excl = {"connect_quarantine": "quarantined_at", "connect_drop_log": "applied_at"}.get(t, "_loaded_at")
        out[t] = sorted(map(str, con.execute(f"select * exclude ({excl}) from raw.{t}").fetchall()))
    return out


def assert_nothing_lost(con, report) -> None:
    """delivered = loaded + quarantined for every applied drop; every refused drop is still in the landing folder."""
    for r in report.applied:
        for table, f in r.files.items():
            loaded = con.execute(f"select count(*) from raw.connect_{table} where _drop_id = ?", [r.drop_id]).fetchall()[0][0]
            quarantined = con.execute(
                "select count(*) from raw.connect_quarantine where drop_id = ? and table_name = ?", [r.drop_id, table]
            ).fetchall()[0][0]
            assert f.rows_delivered == loaded + quarantined, (r.drop_id, table)


def persons(n: int, prefix: str = "P") -> list[dict]:
    return [person(f"{prefix}{i}") for i in range(n)]


def crimes(n: int, prefix: str = "C") -> list[dict]:
    return [crime(f"{prefix}{i}") for i in range(n)]


def charges(n: int) -> list[dict]:
    return [charge(f"H{i}", f"P{i}", f"C{i}") for i in range(n)]


def history(connect_dir: Path, con) -> dict:
    """A good full drop of 50 records per table and one delta, applied."""
    write_drop(connect_dir, "2026-01-05", "full", persons=persons(50), crimes=crimes(50), charges=charges(50))
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C100")])
    report = ingest_landing(con, connect_dir)
    assert len(report.applied) == 2, report.summary()
    return state(con)


def next_good_week(connect_dir: Path, con, drop_id: str = "2026-01-26") -> None:
    write_drop(connect_dir, drop_id, "delta", crimes=[crime("C200")])
    report = ingest_landing(con, connect_dir)
    assert drop_id in [r.drop_id for r in report.applied], report.summary()
    assert_nothing_lost(con, report)
    # built on the whole state, not on what a bad drop left
    assert current_state_counts(con) == {"persons": 50, "crimes": 52, "charges": 50}


# --- item 1: a bad full extract never replaces the state ----------------------


def test_empty_full_drop_is_refused_and_the_next_week_builds_on_the_whole_state(con, connect_dir):
    before = history(connect_dir, con)
    bad = write_drop(connect_dir, "2026-01-19", "full")
    report = ingest_landing(con, connect_dir)
    reason = next(r.reason for r in report.refused if r.drop_id == "2026-01-19")
    assert "empty" in reason and "state is unchanged" in reason
    assert state(con) == before
    assert bad.exists() and (bad / "manifest.json").exists()  # kept in the landing folder
    assert con.execute("select kind from raw.connect_drop_refusals where drop_id = '2026-01-19'").fetchall() == [("validation",)]
    next_good_week(connect_dir, con)
    assert "2026-01-19" in latest_refusals(con)  # still refused, still reported, never applied


def test_full_drop_with_two_percent_of_the_rows_is_refused_until_an_operator_accepts_it(con, connect_dir):
    before = history(connect_dir, con)
    write_drop(connect_dir, "2026-01-19", "full", persons=persons(1), crimes=crimes(1), charges=charges(1))
    reason = ingest_landing(con, connect_dir).refused[0].reason
    assert "persons: 1 rows loaded, 2% of the 50 records" in reason and "wmp drops accept 2026-01-19" in reason
    assert state(con) == before
    # running again changes nothing and logs the refusal once
    ingest_landing(con, connect_dir)
    assert state(con) == before
    assert con.execute("select count(*) from raw.connect_drop_refusals").fetchall()[0][0] == 1
    assert {s.drop_id: s.status for s in drop_statuses(con, connect_dir, IngestConfig())}["2026-01-19"] == "refused"
    print(accept_drop(con, connect_dir, "2026-01-19", "force migrated to a new system; one nominal left", who="tester"))
    assert {s.drop_id: s.status for s in drop_statuses(con, connect_dir, IngestConfig())}["2026-01-19"] == "accepted"
    report = ingest_landing(con, connect_dir)
    assert [r.drop_id for r in report.applied] == ["2026-01-19"] and report.applied[0].accepted
    assert_nothing_lost(con, report)
    assert current_state_counts(con) == {"persons": 1, "crimes": 1, "charges": 1}


def test_the_volume_threshold_is_one_setting(con, connect_dir):
    history(connect_dir, con)
    write_drop(connect_dir, "2026-01-19", "full", persons=persons(40), crimes=crimes(40), charges=charges(40))
    assert ingest_landing(con, connect_dir, config=IngestConfig(full_drop_min_volume_percent=90)).refused
    report = ingest_landing(con, connect_dir, config=IngestConfig(full_drop_min_volume_percent=75))
    # a validation refusal waits for an operator, even when the setting changes
    assert not report.applied
    shutil.rmtree(connect_dir / "2026-01-19")
    write_drop(connect_dir, "2026-01-19", "full", persons=persons(41), crimes=crimes(40), charges=charges(40))  # re-delivered
    report = ingest_landing(con, connect_dir, config=IngestConfig(full_drop_min_volume_percent=75))
    assert [r.drop_id for r in report.applied] == ["2026-01-19"], report.summary()


def test_full_drop_failing_a_blocking_expectation_is_refused_before_it_is_committed(con, connect_dir):
    validator, store = drop_validator(WEST_MIDLANDS_BBOX)
    write_drop(connect_dir, "2026-01-05", "full", persons=persons(3), crimes=[], charges=[charge("H1", "P1", None)])
    report = ingest_landing(con, connect_dir, validator=validator, store=store)
    reason = report.refused[0].reason
    assert "crimes: blocking expectation(s) failed: table_row_count_to_be_between" in reason
    assert current_state_counts(con) == {"persons": 0, "crimes": 0, "charges": 0}
    assert con.execute("select count(*) from raw.connect_drop_expectations").fetchall()[0][0] == 0  # rolled back too


def test_an_accepted_drop_is_only_the_manifest_that_was_accepted(con, connect_dir):
    history(connect_dir, con)
    write_drop(connect_dir, "2026-01-19", "full", persons=persons(1), crimes=crimes(1), charges=charges(1))
    ingest_landing(con, connect_dir)
    accept_drop(con, connect_dir, "2026-01-19", "checked with the CONNECT team")
    write_drop(connect_dir, "2026-01-19", "full", persons=persons(2), crimes=crimes(1), charges=charges(1))  # re-delivered
    report = ingest_landing(con, connect_dir)
    assert not report.applied and "persons: 2 rows loaded, 4% of the 50" in report.refused[0].reason


def test_a_contract_refusal_cannot_be_accepted(con, connect_dir):
    history(connect_dir, con)
    d = write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C7")])
    (d / "charges.csv").unlink()
    ingest_landing(con, connect_dir)
    with pytest.raises(ValueError, match="must be re-delivered corrected"):
        accept_drop(con, connect_dir, "2026-01-19", "looks fine")


# --- item 2: every drop of a run is validated and reported --------------------


def test_every_drop_a_run_applies_is_validated_and_reported(con, connect_dir):
    validator, store = drop_validator(WEST_MIDLANDS_BBOX)
    base_drop(connect_dir, "2026-01-05")
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C9", easting="530000")])  # outside the force area
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C10")])
    report = ingest_landing(con, connect_dir, validator=validator, store=store)
    assert [r.drop_id for r in report.applied] == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert all(set(r.validation) == set(TABLES) for r in report.applied)
    stored = con.execute("select drop_id, count(*) from raw.connect_drop_expectations group by 1 order by 1").fetchall()
    assert stored == [("2026-01-05", 3), ("2026-01-12", 3), ("2026-01-19", 3)]
    drops = drops_to_report(con)
    assert [d.drop_id for d in drops] == ["2026-01-05", "2026-01-12", "2026-01-19"]
    results = results_for(con, "crimes", drops, WEST_MIDLANDS_BBOX)  # read back, not run again
    assert [r.drop_id for r in results] == ["2026-01-05", "2026-01-12", "2026-01-19"]
    meta = drops_check_metadata(results, "warning")
    assert meta["drops_validated"] == 3 and meta["drops_failed"] == 1
    assert "2026-01-12" in meta["drops"][1] and "column_values_to_be_between(easting)" in meta["failed_expectations"][1]


# --- item 3: dates -------------------------------------------------------------


def test_future_dated_drop_is_refused_by_name_and_nothing_else_is_affected(con, connect_dir):
    before = history(connect_dir, con)
    today = date(2026, 1, 20)
    future = (today + timedelta(days=30)).isoformat()
    write_drop(connect_dir, future, "delta", crimes=[crime("C300")])
    report = ingest_landing(con, connect_dir, today=today)
    refused = {r.drop_id: r.reason for r in report.refused}
    assert "future-dated drop is never applied" in refused[future] and future in refused[future]
    assert state(con) == before
    assert future not in [p.name for p in ready_drop_dirs(connect_dir, 1, today)]  # never picked as the week to run
    write_drop(connect_dir, "2026-01-26", "delta", crimes=[crime("C200")])
    report = ingest_landing(con, connect_dir, today=date(2026, 1, 26))
    assert [r.drop_id for r in report.applied] == ["2026-01-26"]
    assert future in {r.drop_id for r in report.refused}
    assert current_state_counts(con) == {"persons": 50, "crimes": 52, "charges": 50}


def test_future_tolerance_is_a_setting(con, connect_dir):
    history(connect_dir, con)
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C7")])
    today = date(2026, 1, 16)
    assert ingest_landing(con, connect_dir, today=today, config=IngestConfig(future_tolerance_days=1)).refused
    report = ingest_landing(con, connect_dir, today=today, config=IngestConfig(future_tolerance_days=3))
    assert [r.drop_id for r in report.applied] == ["2026-01-19"]


@pytest.mark.parametrize("name", ["2025-13-40", "2026-02-30", "latest", "2026-1-5"])
def test_folder_whose_name_is_not_a_date_is_refused_by_name_and_the_others_load(con, connect_dir, name):
    write_drop(connect_dir, name, "delta", crimes=[crime("C7")])
    base_drop(connect_dir, "2026-01-05")
    report = ingest_landing(con, connect_dir)
    assert [r.drop_id for r in report.applied] == ["2026-01-05"]
    reason = next(r.reason for r in report.refused if r.drop_id == name)
    assert name in reason and "date" in reason
    assert (connect_dir / name).exists()


def test_folder_still_being_written_or_empty_is_skipped_with_a_note(con, connect_dir):
    base_drop(connect_dir, "2026-01-05")
    partial = write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    (partial / "manifest.json").unlink()
    (connect_dir / "2026-01-19").mkdir()
    report = ingest_landing(con, connect_dir)
    assert not report.refused and [r.drop_id for r in report.applied] == ["2026-01-05"]
    notes = dict(report.skipped)
    assert "no manifest.json yet" in notes["2026-01-12"] and "empty" in notes["2026-01-19"]
    # once the feed writes the manifest, the next run applies it
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    assert [r.drop_id for r in ingest_landing(con, connect_dir).applied] == ["2026-01-12"]


# --- item 4: order ----------------------------------------------------------------


def test_late_delta_is_applied_and_the_newest_version_wins_by_last_modified(con, connect_dir):
    base_drop(connect_dir, "2026-01-05")
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C1", injury_level="serious", last_modified="2026-01-18T09:00:00")])
    ingest_landing(con, connect_dir)
    # the 2026-01-12 drop arrives last; its version of C1 is older, so it does not win
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C1", injury_level="none", last_modified="2026-01-10T09:00:00")])
    report = ingest_landing(con, connect_dir)
    assert [r.drop_id for r in report.applied] == ["2026-01-12"]
    assert_nothing_lost(con, report)
    newest = con.execute(
        "select injury_level from raw.connect_crimes where crime_id = 'C1' order by last_modified desc limit 1"
    ).fetchall()
    assert newest == [("serious",)]


def test_a_missing_week_is_reported(con, connect_dir):
    base_drop(connect_dir, "2026-01-05")
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C7")])
    write_drop(connect_dir, "2026-02-02", "delta", crimes=[crime("C8")])
    ingest_landing(con, connect_dir)
    gaps = drop_sequence_gaps(con, 7)
    assert gaps == [
        {
            "previous_drop": date(2026, 1, 12),
            "next_drop": date(2026, 2, 2),
            "gap_days": 21,
            "missing_drops": 2,
            "expected_dates": "2026-01-19, 2026-01-26",
        }
    ]
    # the late week arrives: the gap closes
    write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C9")])
    write_drop(connect_dir, "2026-01-26", "delta", crimes=[crime("C10")])
    ingest_landing(con, connect_dir)
    assert drop_sequence_gaps(con, 7) == []


def _dbt_staging(duckdb_path: Path, target: Path) -> dict[str, list]:
    from wmp_pipeline.settings import DBT_PROJECT_DIR

    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "WMP_DUCKDB_PATH": str(duckdb_path)}
    models = ["stg_connect__persons", "stg_connect__crimes", "stg_connect__charges"]
    proc = subprocess.run(
        [str(dbt), "run", "--quiet", "--target-path", str(target), "--log-path", str(target / "logs"), "--select", *models],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        schema = con.execute(
            "select table_schema from information_schema.tables where table_name = 'stg_connect__persons'"
        ).fetchall()[0][0]
        return {m: sorted(map(str, con.execute(f"select * from {schema}.{m}").fetchall())) for m in models}


@pytest.mark.slow
def test_same_drops_in_order_and_shuffled_give_identical_staging_tables(tiny_pipeline, tmp_path):
    """The tiny generator's drops delivered in order, then one at a time in a shuffled order (a late full
    extract, late deltas, a delta before any full): the staging tables are identical."""
    drops = sorted(p for p in tiny_pipeline.settings.connect_dir.iterdir() if p.is_dir())
    orders = {"in_order": drops, "shuffled": random.Random(3).sample(drops, len(drops))}
    assert orders["shuffled"] != drops
    tables = {}
    for label, order in orders.items():
        connect_dir = tmp_path / label / "landing" / "connect"
        connect_dir.mkdir(parents=True)
        db = tmp_path / label / "wh.duckdb"
        for d in order:  # one arrival, one run
            shutil.copytree(d, connect_dir / d.name)
            with duckdb.connect(str(db)) as con:
                ingest_landing(con, connect_dir)
        with duckdb.connect(str(db)) as con:
            report = ingest_landing(con, connect_dir)
            assert not report.refused and all(r.status == "already_applied" for r in report.results), report.summary()
            counts = current_state_counts(con)
        tables[label] = _dbt_staging(db, tmp_path / label / "target")
        # the Python rule of the volume check and the dbt macro agree
        assert {t: len(tables[label][f"stg_connect__{t}"]) for t in TABLES} == counts
    assert tables["in_order"] == tables["shuffled"]


# --- item 7: parsing ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["406744.9", "0x46A8A", "4.07e5", "4,07000", "1_000", "+-5", "99999999999999999999"])
def test_integer_field_takes_only_integer_literals(con, connect_dir, value):
    write_drop(connect_dir, "2026-01-05", persons=[person("P1")], crimes=[crime("C1"), crime("C2", easting=value)])
    report = ingest_landing(con, connect_dir)
    assert_nothing_lost(con, report)
    assert con.execute("select crime_id from raw.connect_crimes").fetchall() == [("C1",)]
    reason = con.execute("select reason from raw.connect_quarantine where record_key = 'C2'").fetchall()[0][0]
    assert reason == f"easting: {value} is not an integer"


@pytest.mark.parametrize("value", ["407100", " 407100 ", "+407100"])
def test_integer_literals_are_loaded(con, connect_dir, value):
    write_drop(connect_dir, "2026-01-05", persons=[person("P1")], crimes=[crime("C1", easting=value)])
    ingest_landing(con, connect_dir)
    assert con.execute("select easting from raw.connect_crimes").fetchall() == [(407100,)]


def test_keys_differing_only_by_surrounding_whitespace_are_one_record(con, connect_dir):
    write_drop(
        connect_dir, "2026-01-05",
        persons=[person("P1"), person(" P1")],
        crimes=[crime("C1")],
        charges=[charge("H1", "P1 ", " C1")],
    )
    write_drop(connect_dir, "2026-01-12", "delta", crimes=[crime("C1 ", injury_level="serious", last_modified="2026-01-10T09:00:00")])
    report = ingest_landing(con, connect_dir)
    assert_nothing_lost(con, report)
    # within a file: the second P1 is a duplicate of the first
    assert con.execute("select reason from raw.connect_quarantine").fetchall() == [("person_id P1 is duplicated in the file (first at row 1)",)]
    # across drops: one crime C1, in two versions; charges refer to the stripped keys
    assert con.execute("select distinct crime_id from raw.connect_crimes").fetchall() == [("C1",)]
    assert current_state_counts(con)["crimes"] == 1
    assert con.execute("select person_id, crime_id from raw.connect_charges").fetchall() == [("P1", "C1")]


def test_nul_byte_in_a_field_is_quarantined(con, connect_dir):
    write_drop(connect_dir, "2026-01-05", persons=[person("P1")], crimes=[crime("C1"), crime("C2", offence_description="knife\x00attack")])
    report = ingest_landing(con, connect_dir)
    assert_nothing_lost(con, report)
    assert con.execute("select record_key, reason from raw.connect_quarantine").fetchall() == [("C2", "offence_description: holds a NUL byte")]


def test_nul_byte_in_a_parquet_field_is_quarantined(con, connect_dir):
    import hashlib

    import pandas as pd

    d = base_drop(connect_dir)
    df = pd.read_csv(d / "crimes.csv", dtype=str, keep_default_na=False).replace({"": None})
    df.loc[1, "offence_description"] = "a\x00b"
    df.to_parquet(d / "crimes.parquet", index=False)
    m = json.loads((d / "manifest.json").read_text())
    del m["files"]["crimes.csv"]
    m["files"]["crimes.parquet"] = {"rows": len(df), "sha256": hashlib.sha256((d / "crimes.parquet").read_bytes()).hexdigest()}
    (d / "manifest.json").write_text(json.dumps(m))
    (d / "crimes.csv").unlink()
    report = ingest_landing(con, connect_dir)
    assert_nothing_lost(con, report)
    assert con.execute("select record_key, reason from raw.connect_quarantine").fetchall() == [("C2", "offence_description: holds a NUL byte")]


def test_drop_file_that_is_a_symlink_outside_the_landing_folder_is_refused(con, connect_dir, tmp_path):
    before = history(connect_dir, con)
    d = write_drop(connect_dir, "2026-01-19", "delta", crimes=[crime("C7")])
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (d / "crimes.csv").rename(outside / "crimes.csv")
    (d / "crimes.csv").symlink_to(outside / "crimes.csv")
    reason = ingest_landing(con, connect_dir).refused[0].reason
    assert "crimes.csv is a symlink" in reason and "outside the landing folder" in reason
    assert state(con) == before
    next_good_week(connect_dir, con)


def test_symlink_inside_the_landing_folder_is_allowed(con, connect_dir):
    d = base_drop(connect_dir, "2026-01-05")
    store = connect_dir.parent / "store"
    store.mkdir()
    (d / "crimes.csv").rename(store / "crimes.csv")
    (d / "crimes.csv").symlink_to(store / "crimes.csv")
    assert [r.drop_id for r in ingest_landing(con, connect_dir).applied] == ["2026-01-05"]


# --- the operator's command ----------------------------------------------------------


def test_wmp_drops_list_and_accept(tmp_path, monkeypatch, capsys):
    from wmp_pipeline import warehouse
    from wmp_pipeline.cli import main
    from wmp_pipeline.settings import get_settings

    for var in ("WMP_DUCKDB_PATH", "WMP_LANDING_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WMP_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    connect_dir = settings.connect_dir
    with warehouse.connect(settings.duckdb_path) as con:
        history(connect_dir, con)
        write_drop(connect_dir, "2026-01-19", "full", persons=persons(2), crimes=crimes(2), charges=charges(2))
        write_drop(connect_dir, "2099-01-05", "delta", crimes=[crime("C7")])
        ingest_landing(con, connect_dir)
    assert main(["drops", "list"]) == 0
    listed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert listed == {"2026-01-05": "applied", "2026-01-12": "applied", "2026-01-19": "refused", "2099-01-05": "refused"}
    assert main(["drops", "accept", "2099-01-05", "--reason", "x"]) == 2
    assert "cannot be accepted" in capsys.readouterr().err
    assert main(["drops", "accept", "2026-01-19", "--reason", "confirmed with the CONNECT team"]) == 0
    assert "the next `wmp run` applies it" in capsys.readouterr().out
    with warehouse.connect(settings.duckdb_path) as con:
        assert [r.drop_id for r in ingest_landing(con, connect_dir).applied] == ["2026-01-19"]
