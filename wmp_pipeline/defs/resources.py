"""Resources, built once in :func:`build_resources` from :mod:`wmp_pipeline.settings`.

One resource per area: ``warehouse`` (the working DuckDB file), ``pipeline``
(the deployment's folders, mode and pseudonymisation key), ``policeuk`` (the
police.uk folder, :mod:`wmp_pipeline.defs.policeuk.resources`) and ``dbt``
(:mod:`wmp_pipeline.defs.dbt.resources`). In the code location every field
set in the environment is a ``dagster.EnvVar``, resolved when a run starts,
so the pseudonymisation key never appears as a value in the run config or
the UI; unset fields stay empty and take the default written once in
:meth:`wmp_pipeline.settings.Settings.from_values`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, EnvVar, InitResourceContext

from wmp_pipeline import warehouse
from wmp_pipeline.defs.dbt.resources import build_dbt_resource
from wmp_pipeline.defs.policeuk.resources import PoliceUkResource
from wmp_pipeline.settings import ENV_VARS, Settings, get_settings


class WarehouseResource(ConfigurableResource):
    """The pipeline's working DuckDB file. Writers are serialised by a file lock."""

    database_path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(Path(self.database_path), read_only=read_only) as con:
            yield con

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        with warehouse.writer_lock(Path(self.database_path)):
            yield


class PipelineSettingsResource(ConfigurableResource):
    """The deployment's folders, mode and pseudonymisation key (``WMP_*``, see :mod:`wmp_pipeline.settings`).

    Each field is the raw value of its environment variable (empty = the
    default). Setting the resource up checks what a run must not start with
    (an unknown mode; production without a proper key), so a run launched
    from the UI fails before any step does work, as ``wmp run`` does.
    """

    data_dir: str | None = None
    landing_dir: str | None = None
    ground_truth_dir: str | None = None
    duckdb_path: str | None = None
    analyst_db_path: str | None = None
    artifacts_dir: str | None = None
    boundary_file: str | None = None
    policeuk_dir: str | None = None
    pseudonym_key: str | None = None
    mode: str | None = None

    def settings(self) -> Settings:
        return Settings.from_values(**{name: getattr(self, name) for name in ENV_VARS})

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.settings().check_startable()


def _from_environment(name: str) -> EnvVar | None:
    var = ENV_VARS[name]
    return EnvVar(var) if os.environ.get(var, "").strip() else None


def _as_text(value) -> str | None:
    return None if value is None else str(value)


def build_resources(settings: Settings | None = None) -> dict:
    """Every resource of the code location: from the environment (``EnvVar``), or bound to
    ``settings`` (tests and the benchmark, which run in temporary folders)."""
    if settings is None:
        raw = {name: _from_environment(name) for name in ENV_VARS}
        duckdb_path = raw["duckdb_path"] or str(get_settings().duckdb_path)
    else:
        raw = {name: _as_text(getattr(settings, name)) for name in ENV_VARS}
        duckdb_path = str(settings.duckdb_path)
    return {
        "warehouse": WarehouseResource(database_path=duckdb_path),
        "pipeline": PipelineSettingsResource(**raw),
        "policeuk": PoliceUkResource(folder=raw["policeuk_dir"]),
        "dbt": build_dbt_resource(),
    }
