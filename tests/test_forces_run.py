"""``wmp run --force all`` end to end: the run queue, a held-out force, a force with no folder.

A registry written here (no force in it is named anywhere in the code):
City of London on a cut of its police.uk files, and a CONNECT force whose
landing folder does not exist. The command runs both through the local
instance's run queue (2 at once, the daemon started for the duration), as a
user runs it, in a temporary data folder and Dagster home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from wmp_pipeline.settings import PROJECT_ROOT

POLICEUK = Path("/work/shared/data/police-uk/city-of-london")
MONTHS = 24


@pytest.mark.slow
@pytest.mark.skipif(not POLICEUK.is_dir(), reason=f"the shared police.uk data ({POLICEUK}) is not on this machine")
def test_force_all_runs_each_force_in_its_own_queued_run_and_builds_the_catalogue(tmp_path, monkeypatch):
    cut = tmp_path / "police" / "city-of-london"
    cut.mkdir(parents=True)
    for f in sorted(POLICEUK.glob("*-city-of-london-street.csv*"))[-MONTHS:]:
        shutil.copy(f, cut / f.name)
    registry = tmp_path / "forces.toml"
    registry.write_text(
        "schema_version = 1\n\n"
        '[[force]]\nslug = "city-of-london"\nname = "City of London Police"\nsource = "policeuk"\n'
        f'landing = "{cut}"\n\n'
        '[[force]]\nslug = "ghost-force"\nname = "A force whose feed never arrived"\nsource = "connect"\n'
        f'landing = "{tmp_path / "nowhere"}"\n'
    )
    data = tmp_path / "data"
    env = {**os.environ, "WMP_DATA_DIR": str(data), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    for var in ("WMP_FORCES_FILE", "WMP_DUCKDB_PATH", "WMP_LANDING_DIR", "WMP_ANALYST_DB_PATH", "WMP_ARTIFACTS_DIR"):
        env.pop(var, None)
    wmp = Path(sys.executable).with_name("wmp")
    proc = subprocess.run(
        [str(wmp), "run", "--forces", str(registry), "--force", "all", "--workers", "2"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr[-3000:]  # one force failed: the command says so
    summary = out[out.index("Forces ("):]
    lines = {line.split()[0]: line for line in summary.splitlines()[1:3]}
    assert lines["city-of-london"].rstrip().endswith("ok"), summary
    ghost = lines["ghost-force"]
    assert "FAILED" in ghost and "ghost-force" in ghost and str(tmp_path / "nowhere" / "connect") in ghost, summary

    force_dir = data / "forces" / "city-of-london"
    assert (force_dir / "warehouse" / "wmp.duckdb").exists() and list((force_dir / "dbt" / "target").glob("wmp_dbt_models-*/dbt.log"))
    catalogue = data / "analyst" / "national_catalogue.duckdb"
    with duckdb.connect(str(catalogue), read_only=True) as con:
        status = dict(con.execute("SELECT force, status FROM catalogue_forces").fetchall())
        assert status == {"city-of-london": "ok", "ghost-force": "failed"}
        detail = con.execute("SELECT detail FROM catalogue_forces WHERE force = 'ghost-force'").fetchall()[0][0]
        assert "does not exist" in detail
        top = con.execute(
            "SELECT force, target, count(*) FROM hotspot_predictions WHERE rank <= 3 GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        assert {t for _, t, _ in top} >= {"robbery", "violence_and_sexual_offences"} and {f for f, _, _ in top} == {"city-of-london"}
        rates = con.execute("SELECT count(*) FROM hotspot_hit_rates WHERE force = 'city-of-london' AND source = 'policeuk'").fetchall()
        assert rates[0][0] > 0

    from dagster import DagsterInstance

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with DagsterInstance.get() as instance:
        runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition/force")]
        assert sorted(r.tags["dagster/partition/force"] for r in runs) == ["city-of-london", "ghost-force"]
        assert {r.job_name for r in runs} == {"policeuk_weekly_job", "weekly_job"}
        assert all(r.tags.get("wmp/batch") for r in runs)
