"""deploy/: the Kubernetes settings pass Dagster's own validation and agree with the code and the benchmark."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import UserDefinedDagsterK8sConfig

from wmp_pipeline import instance as wmp_instance
from wmp_pipeline.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
NAMESPACE = "wmp"

#: what the chart sets in every Dagster pod; its instance config refers to these with env:
CHART_ENV = {
    "DAGSTER_HOME": "/opt/dagster/dagster_home",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "wmp-dagster-instance",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "wmp-dagster-postgresql",
    "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP": "wmp-dagster-pipeline-env",
    "DAGSTER_PG_PASSWORD": "from-the-secret",
}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def render_instance(values: dict) -> dict:
    """The dagster.yaml the official chart renders from these values (its configmap-instance
    template and helpers/instance/*.tpl, for the keys these values use)."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
            "scheme": pg["postgresqlScheme"],
        }
    }
    run_k8s = {
        snake: k8s["runK8sConfig"][camel]
        for camel, snake in (("containerConfig", "container_config"), ("podSpecConfig", "pod_spec_config"),
                             ("jobSpecConfig", "job_spec_config"), ("jobMetadata", "job_metadata"))
        if camel in k8s.get("runK8sConfig", {})
    }
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    return {
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage", "config": postgres},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", "config": postgres},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage", "config": postgres},
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "load_incluster_config": k8s["loadInclusterConfig"],
                "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
                "image_pull_policy": k8s["imagePullPolicy"],
                "service_account_name": "wmp-dagster",
                "dagster_home": {"env": "DAGSTER_HOME"},
                "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
                "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
                "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}] + [c["name"] for c in k8s["envConfigMaps"]],
                "env_secrets": [s["name"] for s in k8s["envSecrets"]],
                "env_vars": k8s["envVars"],
                "volume_mounts": k8s["volumeMounts"],
                "volumes": k8s["volumes"],
                "run_k8s_config": run_k8s,
            },
        },
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
                "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
            },
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def test_the_rendered_instance_passes_dagsters_validation(values, tmp_path, monkeypatch):
    for name, value in CHART_ENV.items():
        monkeypatch.setenv(name, value)
    rendered = render_instance(values)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    config = wmp_instance.validate_instance_file(tmp_path)
    assert config["run_launcher"]["class"] == "K8sRunLauncher"

    launcher = validate_config(K8sRunLauncher.config_type(), rendered["run_launcher"]["config"])
    assert launcher.success, [e.message for e in launcher.errors]
    typo = validate_config(K8sRunLauncher.config_type(), {**rendered["run_launcher"]["config"], "job_namspace": "x"})
    assert not typo.success
    coordinator = validate_config(QueuedRunCoordinator.config_type(), rendered["run_coordinator"]["config"])
    assert coordinator.success, [e.message for e in coordinator.errors]

    # the per-run pod settings are checked field by field against the Kubernetes models
    pod = UserDefinedDagsterK8sConfig.from_dict(launcher.value["run_k8s_config"])
    assert pod.container_config["resources"]["limits"]["memory"] == "6Gi"
    assert pod.job_spec_config["ttl_seconds_after_finished"] == 86400
    assert pod.pod_spec_config["security_context"]["fs_group"] == 1000
    bad = {**launcher.value["run_k8s_config"], "container_config": {"resourcez": {}}}
    with pytest.raises(Exception, match="resourcez"):
        UserDefinedDagsterK8sConfig.from_dict(bad)


def test_k8s_run_limits_are_the_local_instances(values):
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    local = wmp_instance.run_queue(queued["maxConcurrentRuns"])
    assert queued["tagConcurrencyLimits"] == local["tag_concurrency_limits"]
    assert queued["dequeueIntervalSeconds"] == local["dequeue_interval_seconds"]
    assert {limit["key"] for limit in queued["tagConcurrencyLimits"]} == {wmp_instance.FORCE_TAG, wmp_instance.PARTITION_TAG}


def test_run_pods_are_sized_by_the_rule_from_the_force_benchmark(values):
    bench = json.loads((PROJECT_ROOT / "benchmarks" / "results" / "force_5y.json").read_text())
    runs = [run for result in bench["results"] for run in result["runs"] if run["success"]]
    peak = max(run["peak_rss_mb"] for run in runs)
    resources = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]["resources"]
    assert resources == wmp_instance.run_pod_resources(peak, bench["machine"]["cores"])
    assert wmp_instance.run_pod_resources(3531, 2) == {
        "requests": {"cpu": "2", "memory": "5Gi"},
        "limits": {"cpu": "2", "memory": "6Gi"},
    }


def test_image_serves_the_projects_code_location(values):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    for line in re.findall(r"^COPY .*$", dockerfile, re.M):
        for source in line.split()[1:-1]:
            if not source.startswith("--"):
                assert (PROJECT_ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which does not exist"
    module = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert cmd[:3] == ["dagster", "code-server", "start"] and cmd[cmd.index("-m") + 1] == module
    deployment = values["dagster-user-deployments"]["deployments"][0]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == module
    mounts = {m["mountPath"] for m in deployment["volumeMounts"]}
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["WMP_DATA_DIR"] in mounts and f"WMP_DATA_DIR={env['WMP_DATA_DIR']}" in values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
