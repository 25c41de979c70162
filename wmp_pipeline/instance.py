"""The Dagster instance: its ``dagster.yaml``, chosen and written in one place.

Every run of the pipeline (``wmp run``, ``wmp ui``, the daemon) records its
history in a Dagster *instance*, configured by ``$DAGSTER_HOME/dagster.yaml``.
Two storages:

* **SQLite** (the Quick start default): files under ``DAGSTER_HOME``
  (``data/dagster_home``), nothing to set up.
* **PostgreSQL** (production, ``dagster-postgres``): chosen when the
  environment names a server, either as one URL in
  ``WMP_DAGSTER_POSTGRES_URL`` (``postgresql+psycopg2://user:password@host:5432/db``)
  or as Dagster's standard fields ``DAGSTER_PG_HOST``, ``DAGSTER_PG_USERNAME``,
  ``DAGSTER_PG_PASSWORD``, ``DAGSTER_PG_DB`` and ``DAGSTER_PG_PORT``. The
  driver is named (``postgresql+psycopg2``): SQLAlchemy 2.1 reads a bare
  ``postgresql://`` as psycopg 3, which dagster-postgres does not install. The file refers to those variables with Dagster's
  ``env:`` syntax, so no secret is ever written into it; Dagster reads them
  when the instance starts.

Both use Dagster's ``QueuedRunCoordinator`` (``run_queue``): at most
``max_concurrent_runs`` runs at once, and, through tag concurrency limits,
never two runs of the same force (:data:`FORCE_TAG`, the tag Dagster sets
on a run of a force x week partition) nor of the same partition
(``dagster/partition``, e.g. one force-week) at once: each force
has one DuckDB working file, which takes one writer.

The YAML written here is also the template in ``deploy/`` (a test keeps them
identical). A ``dagster.yaml`` that this module did not write (no
:data:`HEADER`) is the operator's own and is never overwritten.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

#: the run tag naming a run's force: Dagster's own tag of the ``force`` dimension of a
#: force x week partition (one run per force at a time)
FORCE_TAG = "dagster/partition/force"
#: Dagster's own tag of a run's partition key (for a force x week partition, both)
PARTITION_TAG = "dagster/partition"
POSTGRES_URL_ENV = "WMP_DAGSTER_POSTGRES_URL"
#: Dagster's standard PostgreSQL variables (those its Helm chart sets), env name -> postgres_db field
POSTGRES_FIELD_ENVS = {
    "DAGSTER_PG_USERNAME": "username",
    "DAGSTER_PG_PASSWORD": "password",
    "DAGSTER_PG_HOST": "hostname",
    "DAGSTER_PG_DB": "db_name",
    "DAGSTER_PG_PORT": "port",
}
#: SQLAlchemy 2.1 reads a bare ``postgresql://`` as the psycopg 3 driver; dagster-postgres ships psycopg2
DRIVER_SCHEME = "postgresql+psycopg2"
HEADER = "# Written by wmp_pipeline.instance (see docs/deployment.md); edits are replaced on the next wmp run.\n"
#: what ``wmp`` wrote before this module existed: also ours to replace
LEGACY_YAML = "run_queue:\n  max_concurrent_runs: 1\ntelemetry:\n  enabled: false\n"
SQLITE, POSTGRES_URL, POSTGRES_FIELDS = "sqlite", "postgres_url", "postgres_db"


def storage_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``postgres_url`` when ``WMP_DAGSTER_POSTGRES_URL`` is set, ``postgres_db`` when
    ``DAGSTER_PG_HOST`` is, else ``sqlite``. Half-set PostgreSQL fields (the
    password may be empty, not absent) and a URL without the driver are errors."""
    env = os.environ if environ is None else environ
    url = env.get(POSTGRES_URL_ENV, "").strip()
    if url:
        scheme = url.split("://", 1)[0]
        if scheme != DRIVER_SCHEME:
            raise ValueError(
                f"{POSTGRES_URL_ENV} must start with {DRIVER_SCHEME}:// (the driver dagster-postgres installs; "
                f"SQLAlchemy reads {scheme}:// as another driver), e.g. {DRIVER_SCHEME}://user:password@host:5432/dagster"
            )
        return POSTGRES_URL
    if env.get("DAGSTER_PG_HOST", "").strip():
        missing = [k for k in POSTGRES_FIELD_ENVS if k != "DAGSTER_PG_PASSWORD" and not env.get(k, "").strip()]
        if "DAGSTER_PG_PASSWORD" not in env:
            missing.append("DAGSTER_PG_PASSWORD")
        if missing:
            raise ValueError(f"DAGSTER_PG_HOST is set but {', '.join(missing)} is not: set it, or use {POSTGRES_URL_ENV}")
        return POSTGRES_FIELDS
    return SQLITE


def run_queue(max_concurrent_runs: int = 1, runs_per_force: int = 1, dequeue_interval_seconds: int = 2) -> dict:
    """The ``run_queue`` section: a global limit, one run per force and per partition at a time."""
    if max_concurrent_runs < 1 or runs_per_force < 1:
        raise ValueError(f"run limits must be at least 1, got {max_concurrent_runs} and {runs_per_force}")
    return {
        "max_concurrent_runs": int(max_concurrent_runs),
        "dequeue_interval_seconds": int(dequeue_interval_seconds),
        "tag_concurrency_limits": [
            {"key": FORCE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": int(runs_per_force)},
            {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        ],
    }


def run_pod_resources(peak_rss_mb: float, cores: int, headroom: float = 1.25) -> dict:
    """Kubernetes resources of one run pod from a benchmarked run (pure).

    Memory request = the run's peak RSS x ``headroom``, rounded up to a whole
    GiB; limit = request + 1 GiB (the pod is killed at the limit, so it must
    hold a heavier week than the benchmark's). CPU request = limit = the
    cores the benchmark ran on (the run's wall time was measured with them).
    """
    request_gib = math.ceil(peak_rss_mb * headroom / 1024)
    return {
        "requests": {"cpu": str(int(cores)), "memory": f"{request_gib}Gi"},
        "limits": {"cpu": str(int(cores)), "memory": f"{request_gib + 1}Gi"},
    }


def storage_section(storage: str) -> dict:
    """The ``storage`` section for ``postgres_url`` or ``postgres_db`` (values via ``env:``)."""
    if storage == POSTGRES_URL:
        return {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    if storage == POSTGRES_FIELDS:
        fields: dict = {field: {"env": name} for name, field in POSTGRES_FIELD_ENVS.items()}
        return {"postgres": {"postgres_db": {**fields, "scheme": DRIVER_SCHEME}}}
    raise ValueError(f"unknown PostgreSQL instance storage {storage!r}: {POSTGRES_URL} or {POSTGRES_FIELDS}")


def instance_config(storage: str = SQLITE, max_concurrent_runs: int = 1, runs_per_force: int = 1) -> dict:
    """The whole ``dagster.yaml`` as a dict. SQLite has no ``storage`` section: Dagster's
    default keeps its SQLite files in ``DAGSTER_HOME`` (the layout earlier runs used)."""
    config = {} if storage == SQLITE else {"storage": storage_section(storage)}
    config["run_queue"] = run_queue(max_concurrent_runs, runs_per_force)
    config["telemetry"] = {"enabled": False}
    return config


def instance_yaml(storage: str = SQLITE, max_concurrent_runs: int = 1, runs_per_force: int = 1) -> str:
    """``dagster.yaml`` text (with :data:`HEADER`)."""
    body = yaml.safe_dump(instance_config(storage, max_concurrent_runs, runs_per_force), sort_keys=False)
    return HEADER + body


def validate_instance_file(home: Path, filename: str = "dagster.yaml") -> dict:
    """Dagster's own validation of ``home/filename`` (its instance config schema); returns the validated config.

    Raises ``dagster.DagsterInvalidConfigError`` naming what is wrong."""
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(home), filename)
    return dict(config)


def prepare_dagster_home(
    home: Path,
    environ: Mapping[str, str] | None = None,
    max_concurrent_runs: int | None = None,
    runs_per_force: int = 1,
) -> Path:
    """Create ``home`` and write its ``dagster.yaml`` for the storage the environment selects.

    ``max_concurrent_runs=None`` keeps the limit of a file this module wrote
    earlier (1 for a new one). A ``dagster.yaml`` without :data:`HEADER` is
    the operator's and is left as it is (only validated). Returns the file's path.
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    old = path.read_text() if path.exists() else None
    if old is not None and not (old.startswith(HEADER) or old == LEGACY_YAML):
        validate_instance_file(home)
        return path
    if max_concurrent_runs is None:
        previous = (yaml.safe_load(old) or {}).get("run_queue", {}) if old else {}
        max_concurrent_runs = int(previous.get("max_concurrent_runs", 1))
    text = instance_yaml(storage_from_env(environ), max_concurrent_runs, runs_per_force)
    if old != text:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
