"""The Dagster asset raw/policeuk_street, and the staging model's empty-table pre-hook."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
from dagster import AssetKey, materialize

from wmp_pipeline.defs.policeuk.assets import policeuk_street
from wmp_pipeline.defs.partitions import default_force_week
from wmp_pipeline.defs.resources import build_resources
from wmp_pipeline.policeuk.loader import STREET_TABLE, ensure_tables
from wmp_pipeline.dbt_runtime import dbt_env
from wmp_pipeline.settings import DBT_PROJECT_DIR

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context"
ROWS = [
    "c1,2021-09,Test Police,Test Police,-1.4701,53.3811,On or near A Street,E01033264,Sheffield 073E,Robbery,,",
    ",2021-09,Test Police,Test Police,,,No Location,,,Anti-social behaviour,,",
]


WEEK = default_force_week("2021-10-04")


def _resources(db, folder=None) -> dict:
    from wmp_pipeline.settings import get_settings
    import dataclasses

    res = build_resources(dataclasses.replace(get_settings(), duckdb_path=db, policeuk_dir=folder))
    return {k: res[k] for k in ("warehouse", "pipeline", "policeuk")}


def _metadata(result, key: AssetKey) -> dict:
    mats = result.asset_materializations_for_node(policeuk_street.op.name)
    return {k: v.value for k, v in next(m for m in mats if m.asset_key == key).metadata.items()}


def test_asset_without_folder_is_a_no_op_that_says_so(tmp_path):
    db = tmp_path / "w.duckdb"
    result = materialize([policeuk_street], resources=_resources(db), partition_key=WEEK)
    assert result.success
    meta = _metadata(result, policeuk_street.key)
    assert "not configured" in meta["status"] and meta["files_loaded_this_run"] == 0
    assert not db.exists()


def test_asset_loads_the_configured_folder_idempotently(tmp_path):
    folder = tmp_path / "police"
    folder.mkdir()
    (folder / "2021-09-test-street.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    resources = _resources(tmp_path / "w.duckdb", folder)
    first = _metadata(materialize([policeuk_street], resources=resources, partition_key=WEEK), policeuk_street.key)
    second = _metadata(materialize([policeuk_street], resources=resources, partition_key=WEEK), policeuk_street.key)
    assert first["files_loaded_this_run"] == 1 and first["rows_total"] == 2 and first["rows_without_location_total"] == 1
    assert second["files_loaded_this_run"] == 0 and second["files_unchanged"] == 1 and second["rows_total"] == 2


def test_staging_model_builds_without_police_uk_data_and_its_empty_table_matches_the_loader(tmp_path):
    db = tmp_path / "empty.duckdb"
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    env = dbt_env(tmp_path, db)
    proc = subprocess.run(
        [dbt, "build", "--select", "stg_policeuk__street_crimes", "--quiet"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    con = duckdb.connect(str(db))
    ensure_tables(con)  # raises if the pre-hook's table differs from the loader's layout
    assert con.execute(f"SELECT count(*) FROM {STREET_TABLE}").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM stg_policeuk__street_crimes").fetchone()[0] == 0
    con.close()
