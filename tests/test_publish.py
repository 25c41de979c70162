"""The analyst file: what is published, what is refused, and atomic replacement under concurrent readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from wmp_pipeline.privacy.file_permissions import file_mode
from wmp_pipeline.publish.analyst_file import (
    MANIFEST_TABLE,
    PublicationRefused,
    publish_analyst_file,
    select_analyst_tables,
)
from wmp_pipeline.settings import PROJECT_ROOT


def _write_version(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Analyst tables whose every row carries ``version``; row counts depend on it too."""
    con.execute(
        "create or replace table hotspot_predictions as "
        "select ?::INTEGER as version, range::INTEGER as rank, '250m_' || range || '_0' as cell_id from range(?)",
        [version, 2000 + version],
    )
    con.execute(
        "create or replace table iom_risk_scores as select ?::INTEGER as version, 'OFF-' || range as offender_key from range(?)",
        [version, 300 + version],
    )


def _working(tmp_path: Path, version: int = 1) -> tuple[duckdb.DuckDBPyConnection, Path]:
    con = duckdb.connect(str(tmp_path / "working.duckdb"))
    _write_version(con, version)
    return con, tmp_path / "analyst" / "wmp_analyst.duckdb"


def _read_state(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return _state(con)


def _state(con) -> dict:
    manifest = dict(con.execute(f"select table_name, row_count from {MANIFEST_TABLE}").fetchall())
    versions = {
        t: con.execute(f"select min(version), max(version), count(*) from {t}").fetchone()
        for t in ("hotspot_predictions", "iom_risk_scores")
    }
    return {"manifest": manifest, "versions": versions}


# --------------------------------------------------------------------------- content


def test_publishes_the_tables_with_comments_and_a_manifest(tmp_path):
    con, analyst = _working(tmp_path)
    con.execute("comment on table hotspot_predictions is 'Weekly hotspot forecasts'")
    con.execute("comment on column hotspot_predictions.rank is '1 = highest predicted count'")
    result = publish_analyst_file(con, analyst, source_run="run-1")
    assert [t.name for t in result.tables] == ["hotspot_predictions", "iom_risk_scores"]
    assert "hotspot_cells" in result.skipped
    with duckdb.connect(str(analyst), read_only=True) as a:
        assert a.execute("select comment from duckdb_tables() where table_name = 'hotspot_predictions'").fetchone()[0] == (
            "Weekly hotspot forecasts"
        )
        assert a.execute(
            "select comment from duckdb_columns() where table_name = 'hotspot_predictions' and column_name = 'rank'"
        ).fetchone()[0] == "1 = highest predicted count"
        rows = a.execute(f"select table_name, row_count, column_count, source_run from {MANIFEST_TABLE} order by 1").fetchall()
        assert rows == [("hotspot_predictions", 2001, 3, "run-1"), ("iom_risk_scores", 301, 2, "run-1")]
        assert a.execute("select count(*) from hotspot_predictions").fetchone()[0] == 2001


def test_marts_are_published_by_pattern_and_nothing_else(tmp_path):
    con, analyst = _working(tmp_path)
    con.execute("create table mart_unknown_offence_codes as select '999Z' as offence_code")
    con.execute("create view mart_weekly_counts as select 1 as n")
    con.execute("create table stg_connect__crimes as select 'C1' as crime_id")
    con.execute("create table int_crimes__classified as select 'C1' as crime_id")
    chosen, _ = select_analyst_tables(con)
    assert chosen == ["hotspot_predictions", "iom_risk_scores", "mart_unknown_offence_codes", "mart_weekly_counts"]
    publish_analyst_file(con, analyst, source_run="r")
    with duckdb.connect(str(analyst), read_only=True) as a:
        tables = {r[0] for r in a.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables == {"hotspot_predictions", "iom_risk_scores", "mart_unknown_offence_codes", "mart_weekly_counts", MANIFEST_TABLE}


@pytest.mark.parametrize("column", ["person_id", "date_of_birth", "suspect_person_id", "home_lsoa_code"])
def test_refuses_a_table_with_an_identifying_column_and_keeps_the_old_file(tmp_path, column):
    con, analyst = _working(tmp_path)
    publish_analyst_file(con, analyst, source_run="good")
    con.execute(f"create or replace table iom_risk_scores as select 'OFF-1' as offender_key, 'x' as {column}")
    with pytest.raises(PublicationRefused, match=f"table iom_risk_scores: column {column}"):
        publish_analyst_file(con, analyst, source_run="bad")
    assert _read_state(analyst)["manifest"] == {"hotspot_predictions": 2001, "iom_risk_scores": 301}
    assert sorted(p.name for p in analyst.parent.iterdir()) == [analyst.name]


def test_refuses_the_reidentification_table_even_when_listed(tmp_path):
    con, analyst = _working(tmp_path)
    con.execute("create table restricted_person_keys as select 'OFF-1' as offender_key")
    with pytest.raises(PublicationRefused, match="restricted_person_keys"):
        publish_analyst_file(con, analyst, source_run="r", tables=("hotspot_predictions", "restricted_person_keys"))
    assert not analyst.exists()


def test_refuses_raw_person_ids_hidden_in_any_text_column(tmp_path):
    con, analyst = _working(tmp_path)
    con.execute("create schema raw")
    con.execute("create table raw.connect_persons as select 'P' || range as person_id from range(50)")
    publish_analyst_file(con, analyst, source_run="pseudonyms only")  # OFF-n values are not person ids
    con.execute("create or replace table iom_risk_scores as select 'P17' as offender_key, 1 as version")
    with pytest.raises(PublicationRefused, match="iom_risk_scores: column offender_key holds 1 raw CONNECT person id"):
        publish_analyst_file(con, analyst, source_run="leak")
    assert _read_state(analyst)["manifest"]["iom_risk_scores"] == 301
    assert sorted(p.name for p in analyst.parent.iterdir()) == [analyst.name]


def test_analyst_file_is_read_only_whatever_the_umask(tmp_path):
    con, analyst = _working(tmp_path)
    analyst.parent.mkdir(parents=True)
    analyst.write_bytes(b"")
    os.chmod(analyst, 0o644)
    old = os.umask(0)
    try:
        publish_analyst_file(con, analyst, source_run="r")
    finally:
        os.umask(old)
    assert file_mode(analyst) == 0o440


def test_a_stale_wal_of_the_old_file_is_not_replayed_onto_the_new_one(tmp_path):
    con, analyst = _working(tmp_path)
    publish_analyst_file(con, analyst, source_run="v1")
    analyst.with_name(analyst.name + ".wal").write_bytes(b"not a wal of the new file")
    _write_version(con, 2)
    publish_analyst_file(con, analyst, source_run="v2")
    assert not analyst.with_name(analyst.name + ".wal").exists()
    assert _read_state(analyst)["versions"]["iom_risk_scores"] == (2, 2, 302)


def test_readable_by_duckdb_1_0_storage(tmp_path):
    con, analyst = _working(tmp_path)
    publish_analyst_file(con, analyst, source_run="r")
    with duckdb.connect(str(analyst), read_only=True) as a:
        tags = a.execute("select tags from duckdb_databases() where database_name = current_database()").fetchone()[0]
    assert tags["storage_version"].startswith("v1.0.0")


# --------------------------------------------------------------------------- concurrency


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"helper process exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {path.name}")
        time.sleep(0.05)


_STATE_CODE = """
import duckdb
def state(con):
    manifest = dict(con.execute("select table_name, row_count from publish_manifest").fetchall())
    versions = {t: list(con.execute(f"select min(version), max(version), count(*) from {t}").fetchone())
                for t in ("hotspot_predictions", "iom_risk_scores")}
    return {"manifest": manifest, "versions": versions}
"""


def test_a_reader_holding_the_file_open_keeps_its_snapshot_and_never_blocks_the_writer(tmp_path):
    con, analyst = _working(tmp_path, version=1)
    publish_analyst_file(con, analyst, source_run="v1")
    ready, go = tmp_path / "ready", tmp_path / "go"
    reader = _python(
        _STATE_CODE
        + """
import json, sys, time
from pathlib import Path
analyst, ready, go = sys.argv[1:4]
con = duckdb.connect(analyst, read_only=True)
before = state(con)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.02)
same_connection = state(con)
con.close()
with duckdb.connect(analyst, read_only=True) as fresh:
    after = state(fresh)
print(json.dumps({"before": before, "same_connection": same_connection, "after": after}))
""",
        str(analyst),
        str(ready),
        str(go),
    )
    _wait_for(ready, reader)
    _write_version(con, 2)
    start = time.monotonic()
    publish_analyst_file(con, analyst, source_run="v2")  # the reader still has the old file open
    elapsed = time.monotonic() - start
    go.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert elapsed < 10, f"the writer waited for the reader ({elapsed:.1f}s)"
    assert seen["before"]["versions"]["iom_risk_scores"] == [1, 1, 301]
    assert seen["same_connection"] == seen["before"]  # old inode, old snapshot, complete
    assert seen["after"]["versions"]["iom_risk_scores"] == [2, 2, 302]
    assert seen["after"]["manifest"] == {"hotspot_predictions": 2002, "iom_risk_scores": 302}


def test_while_a_publication_is_staged_readers_see_the_complete_old_file(tmp_path):
    con, analyst = _working(tmp_path, version=1)
    publish_analyst_file(con, analyst, source_run="v1")
    con.close()
    staged_flag, go = tmp_path / "staged", tmp_path / "go"
    writer = _python(
        """
import sys, time, duckdb
from pathlib import Path
from wmp_pipeline.publish.analyst_file import publish_analyst_file
working, analyst, staged_flag, go = sys.argv[1:5]
con = duckdb.connect(working)
con.execute("create or replace table hotspot_predictions as select 2::INTEGER as version, range::INTEGER as rank from range(2002)")
con.execute("create or replace table iom_risk_scores as select 2::INTEGER as version, 'OFF-' || range as offender_key from range(302)")
def hold(path):
    Path(staged_flag).write_text(str(path))
    while not Path(go).exists():
        time.sleep(0.02)
publish_analyst_file(con, Path(analyst), source_run="v2", before_replace=hold)
print("published")
""",
        str(tmp_path / "working.duckdb"),
        str(analyst),
        str(staged_flag),
        str(go),
    )
    _wait_for(staged_flag, writer)
    staged = Path(staged_flag.read_text())
    assert staged.exists() and staged.parent == analyst.parent  # same filesystem: os.replace is atomic
    mid = _read_state(analyst)
    assert mid["versions"]["iom_risk_scores"] == (1, 1, 301)
    assert mid["manifest"] == {"hotspot_predictions": 2001, "iom_risk_scores": 301}
    go.touch()
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert _read_state(analyst)["versions"]["iom_risk_scores"] == (2, 2, 302)
    assert not staged.exists()


def test_readers_polling_during_repeated_publications_only_ever_see_complete_states(tmp_path):
    con, analyst = _working(tmp_path, version=1)
    publish_analyst_file(con, analyst, source_run="1")
    con.close()
    stop = tmp_path / "stop"
    reader = _python(
        _STATE_CODE
        + """
import json, sys
from pathlib import Path
analyst, stop = sys.argv[1:3]
reads, versions, errors = 0, set(), []
while not Path(stop).exists() or reads < 5:
    try:
        with duckdb.connect(analyst, read_only=True) as con:
            s = state(con)
    except Exception as e:  # a reader must never fail to open or query the file
        errors.append(repr(e)[:200])
        continue
    reads += 1
    (v1, v2, n1), (w1, w2, n2) = s["versions"]["hotspot_predictions"], s["versions"]["iom_risk_scores"]
    if not (v1 == v2 == w1 == w2 and n1 == 2000 + v1 and n2 == 300 + v1
            and s["manifest"] == {"hotspot_predictions": n1, "iom_risk_scores": n2}):
        errors.append(f"inconsistent state {s}")
    versions.add(v1)
print(json.dumps({"reads": reads, "versions": sorted(versions), "errors": errors[:5]}))
""",
        str(analyst),
        str(stop),
    )
    writer = _python(
        """
import sys, duckdb
from pathlib import Path
from wmp_pipeline.publish.analyst_file import publish_analyst_file
working, analyst = sys.argv[1:3]
con = duckdb.connect(working)
for v in range(2, 12):
    con.execute("create or replace table hotspot_predictions as select ?::INTEGER as version, range::INTEGER as rank from range(?)", [v, 2000 + v])
    con.execute("create or replace table iom_risk_scores as select ?::INTEGER as version, 'OFF-' || range as offender_key from range(?)", [v, 300 + v])
    publish_analyst_file(con, Path(analyst), source_run=str(v))
print("done")
""",
        str(tmp_path / "working.duckdb"),
        str(analyst),
    )
    w_out, w_err = writer.communicate(timeout=120)
    stop.touch()
    r_out, r_err = reader.communicate(timeout=60)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    seen = json.loads(r_out)
    print(f"reader: {seen['reads']} reads, versions seen {seen['versions']}")
    assert seen["errors"] == []
    assert seen["reads"] >= 5
    assert len(seen["versions"]) >= 2, seen  # the reader really ran while versions changed
    assert _read_state(analyst)["versions"]["iom_risk_scores"] == (11, 11, 311)


# --------------------------------------------------------------------------- read-only on disk

_WRITE_ATTEMPTS = textwrap.dedent(
    """
    import json, os, sys
    import duckdb
    from wmp_pipeline.privacy.file_permissions import file_mode
    from wmp_pipeline.publish.analyst_file import publish_analyst_file

    analyst, working = sys.argv[1], sys.argv[2]
    attempts = {
        "connect_default": lambda: duckdb.connect(analyst).execute("create table graffiti as select 1"),
        "read_only_false": lambda: duckdb.connect(analyst, read_only=False).execute(
            "delete from iom_risk_scores"),
        "attach": lambda: duckdb.connect().execute(
            f"attach '{analyst}' as a; update a.hotspot_predictions set rank = 0"),
    }
    out = {"uid": os.getuid()}
    for name, attempt in attempts.items():
        try:
            attempt()
            out[name] = "wrote"
        except (duckdb.Error, OSError) as exc:
            out[name] = f"refused: {exc}"
    with duckdb.connect(analyst, read_only=True) as con:
        out["rows"] = con.execute("select count(*) from iom_risk_scores").fetchone()[0]
        out["tables"] = sorted(r[0] for r in con.execute("show tables").fetchall())
    # next week: the same account replaces the read-only file (a rename in a writable folder)
    with duckdb.connect(working) as con:
        con.execute("create table iom_risk_scores as select 'OFF-' || range as offender_key from range(7)")
        publish_analyst_file(con, analyst, source_run="next-week")
    with duckdb.connect(analyst, read_only=True) as con:
        out["rows_next_week"] = con.execute("select count(*) from iom_risk_scores").fetchone()[0]
    out["mode_next_week"] = file_mode(analyst)
    print(json.dumps(out))
    """
)


def _as_non_root(folder: Path):
    """(preexec_fn, uid) that run a child as 'nobody' when the tests run as root (root ignores file modes)."""
    if os.geteuid() != 0:
        return None, os.geteuid()
    import pwd

    nobody = pwd.getpwnam("nobody")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)

    def drop_privileges():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    return drop_privileges, nobody.pw_uid


def test_the_analyst_file_is_read_only_on_disk_and_opening_it_for_writing_fails(tmp_path):
    """Mode 0440 with no write bit; as a non-root account (the file's own owner), every way of
    opening it for writing fails, reading works, and next week's publication still replaces it."""
    import tempfile

    con, _ = _working(tmp_path)
    # a folder every account can reach (pytest's tmp_path is private to root when the tests run as root)
    folder = Path(tempfile.mkdtemp(prefix="wmp-readonly-", dir="/tmp"))
    try:
        os.chmod(folder, 0o755)
        analyst = folder / "analyst" / "wmp_analyst.duckdb"
        publish_analyst_file(con, analyst, source_run="r1")
        con.close()
        assert file_mode(analyst) == 0o440 and not os.stat(analyst).st_mode & 0o222
        preexec, uid = _as_non_root(folder)
        if uid == 0:
            pytest.skip("no non-root account to open the file as")
        proc = subprocess.run(
            [sys.executable, "-c", _WRITE_ATTEMPTS, str(analyst), str(folder / "working.duckdb")],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, preexec_fn=preexec,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(folder)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["uid"] == uid != 0
        for attempt in ("connect_default", "read_only_false", "attach"):
            assert out[attempt].startswith("refused:") and "ermission denied" in out[attempt], out
        assert out["rows"] == 301 and "graffiti" not in out["tables"]  # unchanged
        assert out["rows_next_week"] == 7 and out["mode_next_week"] == 0o440
        assert sorted(p.name for p in analyst.parent.iterdir()) == [analyst.name]
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
