"""The Dagster instance: dagster.yaml chosen from the environment, SQLite by default, PostgreSQL for real."""

from __future__ import annotations

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterInvalidConfigError, DagsterRunStatus, DailyPartitionsDefinition, asset, job, materialize, op

from wmp_pipeline import instance as wmp_instance
from wmp_pipeline.settings import PROJECT_ROOT

from .postgres_server import SKIP_REASON, server_binaries, throwaway_cluster

PG_ENVS = (wmp_instance.POSTGRES_URL_ENV, *wmp_instance.POSTGRES_FIELD_ENVS)


@pytest.fixture
def no_pg_env(monkeypatch):
    for name in PG_ENVS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_storage_follows_the_environment():
    assert wmp_instance.storage_from_env({}) == wmp_instance.SQLITE
    url = "postgresql+psycopg2://u@h/d"
    assert wmp_instance.storage_from_env({"WMP_DAGSTER_POSTGRES_URL": url}) == wmp_instance.POSTGRES_URL
    with pytest.raises(ValueError, match=r"must start with postgresql\+psycopg2://"):
        wmp_instance.storage_from_env({"WMP_DAGSTER_POSTGRES_URL": "postgresql://u@h/d"})
    fields = {"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USERNAME": "u", "DAGSTER_PG_DB": "d", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_PASSWORD": ""}
    assert wmp_instance.storage_from_env(fields) == wmp_instance.POSTGRES_FIELDS
    with pytest.raises(ValueError, match="DAGSTER_PG_DB, DAGSTER_PG_PASSWORD"):
        wmp_instance.storage_from_env({"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USERNAME": "u", "DAGSTER_PG_PORT": "1"})
    with pytest.raises(ValueError, match="at least 1"):
        wmp_instance.run_queue(0)


def test_sqlite_default_is_written_validated_and_loads(tmp_path, no_pg_env):
    home = tmp_path / "home"
    path = wmp_instance.prepare_dagster_home(home, max_concurrent_runs=3)
    text = path.read_text()
    assert text.startswith(wmp_instance.HEADER) and "storage" not in yaml.safe_load(text)
    config = wmp_instance.validate_instance_file(home)
    limits = config["run_queue"]["tag_concurrency_limits"]
    assert config["run_queue"]["max_concurrent_runs"] == 3
    assert {limit["key"] for limit in limits} == {"dagster/partition/force", "dagster/partition"}
    wmp_instance.prepare_dagster_home(home)  # no limit given: the file's own is kept
    assert wmp_instance.validate_instance_file(home)["run_queue"]["max_concurrent_runs"] == 3
    inst = DagsterInstance.from_config(str(home))
    try:
        assert type(inst.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(inst.run_storage).__name__ == "SqliteRunStorage"
    finally:
        inst.dispose()


def test_the_legacy_file_is_replaced_and_an_operators_own_file_is_kept(tmp_path, no_pg_env):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(wmp_instance.LEGACY_YAML)
    wmp_instance.prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text().startswith(wmp_instance.HEADER)
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    no_pg_env.setenv("WMP_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://u@h/d")
    wmp_instance.prepare_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == own
    (home / "dagster.yaml").write_text("run_queue:\n  max_concurent_runs: 2\n")
    with pytest.raises(DagsterInvalidConfigError):
        wmp_instance.prepare_dagster_home(home)


@pytest.mark.parametrize(
    "template, storage",
    [("dagster.postgres.yaml", wmp_instance.POSTGRES_URL), ("dagster.postgres-fields.yaml", wmp_instance.POSTGRES_FIELDS)],
)
def test_deploy_templates_are_what_the_code_writes_and_dagster_accepts_them(template, storage):
    path = PROJECT_ROOT / "deploy" / template
    assert path.read_text() == wmp_instance.instance_yaml(storage), f"{path} is out of date: regenerate it (docs/deployment.md)"
    config = wmp_instance.validate_instance_file(path.parent, template)
    assert "postgres" in config["storage"]


@op
def count_to_three() -> int:
    return 3


@job
def tiny_job():
    count_to_three()


DAYS = DailyPartitionsDefinition(start_date="2026-11-01")


@asset(partitions_def=DAYS)
def cheap_asset(context) -> int:
    return len(context.partition_key)


@pytest.fixture(scope="module")
def postgres_cluster():
    bindir = server_binaries()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    with throwaway_cluster(bindir) as cluster:
        yield cluster


@pytest.mark.slow  # a real server: initdb, Dagster's schema migrations twice, a job and a materialisation (~30-60 s)
@pytest.mark.parametrize("storage", [wmp_instance.POSTGRES_URL, wmp_instance.POSTGRES_FIELDS])
def test_a_real_postgres_instance_runs_and_reads_back(storage, postgres_cluster, tmp_path, no_pg_env):
    import psycopg2

    database = f"dagster_{storage}"
    url = postgres_cluster.create_database(database)
    if storage == wmp_instance.POSTGRES_URL:
        no_pg_env.setenv("WMP_DAGSTER_POSTGRES_URL", url)
    else:
        for name, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres_cluster.port),
                            "DAGSTER_PG_USERNAME": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": database}.items():
            no_pg_env.setenv(name, value)
    home = tmp_path / "home"
    wmp_instance.prepare_dagster_home(home, max_concurrent_runs=2)
    assert url not in (home / "dagster.yaml").read_text()  # only env: references, no secrets in the file

    inst = DagsterInstance.from_config(str(home))
    try:
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
        assert type(inst.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(inst.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = tiny_job.execute_in_process(instance=inst)
        assert result.success and result.output_for_node("count_to_three") == 3
        mat = materialize([cheap_asset], instance=inst, partition_key="2026-11-05")
        assert mat.success
    finally:
        inst.dispose()

    # a fresh instance on the same server reads both back from PostgreSQL
    again = DagsterInstance.from_config(str(home))
    try:
        run = again.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS and run.job_name == "tiny_job"
        event = again.get_latest_materialization_event(AssetKey("cheap_asset"))
        assert event is not None and event.dagster_event.partition == "2026-11-05"
    finally:
        again.dispose()
    con = psycopg2.connect(url.replace("+psycopg2", ""))
    with con.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", [result.run_id])
        assert cur.fetchone() == ("SUCCESS",)
    con.close()
