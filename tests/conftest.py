"""Shared fixtures: an isolated data folder, the dbt manifest, and tiny pipelines.

Tests never touch the project's own ``data/`` folder: ``WMP_DATA_DIR`` points
at a temporary folder for the whole session before anything reads settings.
``dbt parse`` runs once, before collection, because the dbt assets read the
manifest when ``wmp_pipeline.definitions`` is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

_SESSION_DATA = Path(tempfile.mkdtemp(prefix="wmp-tests-"))
os.environ["WMP_DATA_DIR"] = str(_SESSION_DATA / "default")
for _var in ("WMP_FORCES_FILE", "WMP_LANDING_DIR", "WMP_GROUND_TRUTH_DIR", "WMP_DUCKDB_PATH", "WMP_ANALYST_DB_PATH", "WMP_ARTIFACTS_DIR", "WMP_MODE"):
    os.environ.pop(_var, None)
os.environ["DAGSTER_HOME"] = str(_SESSION_DATA / "dagster_home")
Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)

TINY_END_DATE = date(2026, 11, 23)  # a Monday: the newest drop of the tiny history
TINY_SEED = 7


def pytest_configure(config):
    from wmp_pipeline.dbt_runtime import dbt_parse

    # into the session data folder's dbt target, where wmp_pipeline.defs.project reads the manifest
    dbt_parse(Path(os.environ["WMP_DATA_DIR"]), _SESSION_DATA / "parse.duckdb")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DATA, ignore_errors=True)


def use_data_dir(root: Path):
    """Point every setting at ``root`` (as a user would with WMP_DATA_DIR) and return the settings."""
    from wmp_pipeline.settings import get_settings

    os.environ["WMP_DATA_DIR"] = str(root)
    os.environ["WMP_DUCKDB_PATH"] = str(root / "warehouse" / "wmp.duckdb")
    return get_settings()


def dbt_build(duckdb_path: Path) -> None:
    from wmp_pipeline.dbt_runtime import dbt_env
    from wmp_pipeline.settings import DBT_PROJECT_DIR
    from wmp_pipeline.warehouse import writer_lock

    dbt = Path(sys.executable).with_name("dbt")
    env = dbt_env(Path(duckdb_path).parent, duckdb_path)
    with writer_lock(duckdb_path):
        proc = subprocess.run([str(dbt), "build", "--quiet"], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"dbt build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="session")
def tiny_pipeline() -> SimpleNamespace:
    """The tiny preset generated, ingested and built with dbt (no models, no Dagster run).

    For tests of features, models and checks that need realistic staging tables.
    """
    from wmp_pipeline import warehouse
    from wmp_pipeline.generator import generate
    from wmp_pipeline.ingest.load import ingest_landing

    settings = use_data_dir(_SESSION_DATA / "tiny_pipeline")
    generate("tiny", settings.landing_dir, settings.ground_truth_dir, seed=TINY_SEED, end_date=TINY_END_DATE)
    with warehouse.connect(settings.duckdb_path) as con:
        report = ingest_landing(con, settings.connect_dir)
    assert not report.refused, report.summary()
    dbt_build(settings.duckdb_path)
    os.environ["WMP_DATA_DIR"] = str(_SESSION_DATA / "default")
    os.environ.pop("WMP_DUCKDB_PATH", None)
    return SimpleNamespace(
        settings=settings,
        duckdb_path=settings.duckdb_path,
        landing_dir=settings.landing_dir,
        truth_dir=settings.ground_truth_dir,
        forecast_date=TINY_END_DATE,
    )


@pytest.fixture(scope="session")
def tiny_run() -> SimpleNamespace:
    """The whole weekly job, as ``wmp run`` runs it, on the tiny preset for its latest week."""
    from dagster import DagsterInstance

    from wmp_pipeline.definitions import build_definitions
    from wmp_pipeline.defs.partitions import default_force_week
    from wmp_pipeline.defs.sensors import partition_for_drop
    from wmp_pipeline.generator import generate

    settings = use_data_dir(_SESSION_DATA / "tiny_run")
    generate("tiny", settings.landing_dir, settings.ground_truth_dir, seed=TINY_SEED, end_date=TINY_END_DATE)
    partition = partition_for_drop(TINY_END_DATE.isoformat())
    job = build_definitions(settings).resolve_job_def("weekly_job")
    result = job.execute_in_process(partition_key=default_force_week(partition), instance=DagsterInstance.ephemeral(), raise_on_error=False)
    os.environ["WMP_DATA_DIR"] = str(_SESSION_DATA / "default")
    os.environ.pop("WMP_DUCKDB_PATH", None)
    return SimpleNamespace(settings=settings, result=result, partition=partition, forecast_date=TINY_END_DATE)
