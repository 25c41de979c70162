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
from wmp_pipeline.defs.hotspot.resources import HotspotResource
from wmp_pipeline.defs.policeuk.resources import PoliceUkResource
from wmp_pipeline.settings import ENV_VARS, Settings, get_settings


class WarehouseResource(ConfigurableResource):
    """The pipeline's working DuckDB file. Writers are serialised by a file lock.

    With ``data_dir`` set, a run that uses the warehouse holds that data
    folder's run lock from its first step to its end (see
    :func:`wmp_pipeline.defs.runs.take_run_lock`): a second run fails at once,
    naming the first.
    """

    database_path: str
    data_dir: str = ""

    @contextmanager
    def yield_for_execution(self, context):
        if not self.data_dir or context.dagster_run is None:
            yield self
            return
        from wmp_pipeline.defs.runs import take_run_lock

        with take_run_lock(Path(self.data_dir), context.instance, context.dagster_run.run_id, log=context.log):
            yield self

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


def _ingest_resource():
    from wmp_pipeline.defs.ingest.resources import ingest_resource

    return ingest_resource(dict(os.environ))


def build_resources(settings: Settings | None = None) -> dict:
    """Every resource of the code location: from the environment (``EnvVar``), or bound to
    ``settings`` (tests and the benchmark, which run in temporary folders)."""
    # imported here: wmp_pipeline.defs.iom's assets import this module
    from wmp_pipeline.defs.iom.resources import IomResource

    if settings is None:
        raw = {name: _from_environment(name) for name in ENV_VARS}
        duckdb_path = raw["duckdb_path"] or str(get_settings().duckdb_path)
        data_dir = str(get_settings().data_dir)
    else:
        raw = {name: _as_text(getattr(settings, name)) for name in ENV_VARS}
        duckdb_path = str(settings.duckdb_path)
        data_dir = str(settings.data_dir)
    return {
        "warehouse": WarehouseResource(database_path=duckdb_path, data_dir=data_dir),
        "pipeline": PipelineSettingsResource(**raw),
        "policeuk": PoliceUkResource(folder=raw["policeuk_dir"]),
        "iom": IomResource(),
        "ingest": _ingest_resource(),
        # optional: a force's own basemap tile server for the analysts' map (off by default)
        "hotspot": HotspotResource(
            **{"map_tile_url": EnvVar("WMP_MAP_TILE_URL")} if os.environ.get("WMP_MAP_TILE_URL") else {}
        ),
        # dbt of this environment; target and logs under the data folder (defs/dbt/resources.py)
        "dbt": build_dbt_resource(Path(data_dir)),
    }
