"""The weekly job end to end on the tiny preset, as `wmp run` runs it."""

from __future__ import annotations

import duckdb


def _tables(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}


def test_weekly_job_succeeds(tiny_run):
    failures = [e.step_key for e in tiny_run.result.all_events if e.is_step_failure]
    assert tiny_run.result.success, f"failed steps: {failures}"


def test_staging_tables_hold_rows(tiny_run):
    with duckdb.connect(str(tiny_run.settings.duckdb_path), read_only=True) as con:
        for model in ("stg_connect__persons", "stg_connect__crimes", "stg_connect__charges", "int_crimes__classified", "int_charges__harm"):
            assert con.execute(f"select count(*) from main.{model}").fetchone()[0] > 0, model


def test_every_drop_was_applied_and_reconciles(tiny_run):
    with duckdb.connect(str(tiny_run.settings.duckdb_path), read_only=True) as con:
        drops = con.execute("select drop_id, extract_type, rows_delivered, rows_loaded, rows_quarantined from raw.connect_drop_log order by 1").fetchall()
    landed = sorted(p.name for p in tiny_run.settings.connect_dir.iterdir())
    assert [d[0] for d in drops] == landed
    assert drops[0][1] == "full" and all(d[1] == "delta" for d in drops[1:])
    assert all(d[2] == d[3] + d[4] for d in drops)
    # the generator plants a few defects (duplicates, bad values): they are quarantined, not lost
    assert sum(d[4] for d in drops) > 0
