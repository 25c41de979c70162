"""Resources, built once in :func:`build_resources` from :mod:`wmp_pipeline.settings` and the force registry.

One resource per area: ``warehouse`` (the working DuckDB file), ``pipeline``
(the deployment's folders, mode and pseudonymisation key), ``policeuk`` (the
police.uk folder, :mod:`wmp_pipeline.defs.policeuk.resources`) and ``dbt``
(:mod:`wmp_pipeline.defs.dbt.resources`). In the code location every field
set in the environment is a ``dagster.EnvVar``, resolved when a run starts,
so the pseudonymisation key never appears as a value in the run config or
the UI; unset fields stay empty and take the default written once in
:meth:`wmp_pipeline.settings.Settings.from_values`.

One code location serves every force of the registry (``WMP_FORCES_FILE``,
:mod:`wmp_pipeline.forces`). The resources that hold paths
(:class:`PipelineSettingsResource`, :class:`WarehouseResource`) learn the
force of the run they serve when the run starts (its ``force`` partition
tag, :func:`force_slug_of_run`) and hand every asset that force's own
settings: its folders, its DuckDB file, its pseudonym key. A run without a
force tag (the unpartitioned catalogue) serves the registry's default force.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import PrivateAttr

from wmp_pipeline import warehouse
from wmp_pipeline.defs.dbt.resources import build_dbt_resource
from wmp_pipeline.defs.policeuk.resources import PoliceUkResource
from wmp_pipeline.forces import FORCES_FILE_ENV, Force, ForceRegistry, load_registry, settings_for
from wmp_pipeline.forces.settings import force_data_dir
from wmp_pipeline.settings import ENV_VARS, Settings, get_settings

#: Run tag Dagster sets on a run of one force x week partition.
FORCE_TAG = "dagster/partition/force"


def force_slug_of_run(run) -> str | None:
    """The force a run serves: its ``force`` partition tag (None for unpartitioned runs)."""
    if run is None:
        return None
    tags = run.tags
    if tags.get(FORCE_TAG):
        return tags[FORCE_TAG]
    key = tags.get("dagster/partition", "")
    return key.split("|", 1)[0] if "|" in key else None


class ForceScopedResource(ConfigurableResource):
    """A resource whose values depend on the force of the run (read from the registry)."""

    #: registry file (WMP_FORCES_FILE); empty = the embedded registry
    forces_file: str | None = None
    _force_slug: str | None = PrivateAttr(default=None)

    def bind_run(self, context: InitResourceContext) -> None:
        self._force_slug = force_slug_of_run(context.run)
        self.force()  # an unknown force fails here, naming the known ones

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.bind_run(context)

    def registry(self) -> ForceRegistry:
        return load_registry(self.forces_file or None)

    def force(self) -> Force:
        """The registry entry of the run's force (the default force outside a force run)."""
        return self.registry().get(self._force_slug)

    def for_force(self, slug: str):
        """A copy bound to ``slug`` (for code that works on one force outside a run)."""
        bound = self.model_copy()
        bound._force_slug = slug
        bound.force()
        return bound


class WarehouseResource(ForceScopedResource):
    """The run's force's working DuckDB file. Writers are serialised by a file lock.

    With ``data_dir`` set, a run that uses the warehouse holds its force's
    data folder's run lock from its first step to its end (see
    :func:`wmp_pipeline.defs.runs.take_run_lock`): a second run of the same
    force fails at once, naming the first; runs of other forces hold their own.
    """

    #: the data-folder force's file (WMP_DUCKDB_PATH); other forces use <data>/forces/<slug>/warehouse
    database_path: str
    data_dir: str | None = None

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext):
        self.bind_run(context)
        if not self.data_dir or context.run is None:
            yield self
            return
        from wmp_pipeline.defs.runs import take_run_lock

        force = self.force()
        with take_run_lock(
            self.force_dir, context.instance, context.run.run_id, log=context.log,
            force=force.slug, untagged_runs_are_mine=force.data_folder == ".",
        ):
            yield self

    @property
    def force_dir(self) -> Path:
        """The run's force's data folder (the data folder itself for the data-folder force)."""
        data_dir = Path(self.data_dir) if self.data_dir else get_settings().data_dir
        return force_data_dir(self.force(), data_dir)

    @property
    def path(self) -> Path:
        data_dir = Path(self.data_dir) if self.data_dir else get_settings().data_dir
        root = self.force_dir
        return Path(self.database_path) if root == data_dir else root / "warehouse" / "wmp.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path, read_only=read_only) as con:
            yield con

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        with warehouse.writer_lock(self.path):
            yield


class PipelineSettingsResource(ForceScopedResource):
    """The deployment's folders, mode and pseudonymisation key (``WMP_*``, see :mod:`wmp_pipeline.settings`),
    moved to the run's force.

    Each field is the raw value of its environment variable (empty = the
    default). Setting the resource up checks what a run must not start with
    (an unknown mode; production without a proper key; an unknown force), so
    a run launched from the UI fails before any step does work, as ``wmp run`` does.
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

    def base_settings(self) -> Settings:
        """The deployment's settings before moving to a force (the data-folder force's)."""
        return Settings.from_values(**{name: getattr(self, name) for name in ENV_VARS})

    def settings(self) -> Settings:
        """The run's force's settings (see :func:`wmp_pipeline.forces.settings_for`)."""
        return settings_for(self.force(), self.base_settings())

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.base_settings().check_startable()
        self.bind_run(context)
        self.settings()


def _from_environment(name: str) -> EnvVar | None:
    var = ENV_VARS[name]
    return EnvVar(var) if os.environ.get(var, "").strip() else None


def _as_text(value) -> str | None:
    return None if value is None else str(value)


def _ingest_resource():
    from wmp_pipeline.defs.ingest.resources import ingest_resource

    return ingest_resource(dict(os.environ))


def build_resources(settings: Settings | None = None, forces_file: str | Path | None = None) -> dict:
    """Every resource of the code location: from the environment (``EnvVar``), or bound to
    ``settings`` (tests and the benchmark, which run in temporary folders); the force registry
    ``forces_file`` (default: ``WMP_FORCES_FILE``, else the embedded one-force registry)."""
    if settings is None:
        raw = {name: _from_environment(name) for name in ENV_VARS}
        duckdb_path = raw["duckdb_path"] or str(get_settings().duckdb_path)
        data_dir = str(get_settings().data_dir)
    else:
        raw = {name: _as_text(getattr(settings, name)) for name in ENV_VARS}
        duckdb_path = str(settings.duckdb_path)
        data_dir = str(settings.data_dir)
    if forces_file:
        registry = str(forces_file)
    else:
        registry = EnvVar(FORCES_FILE_ENV) if os.environ.get(FORCES_FILE_ENV, "").strip() else None
    return {
        "warehouse": WarehouseResource(database_path=duckdb_path, data_dir=data_dir, forces_file=registry),
        "pipeline": PipelineSettingsResource(**raw, forces_file=registry),
        "policeuk": PoliceUkResource(folder=raw["policeuk_dir"]),
        "ingest": _ingest_resource(),
        # dbt of this environment; target and logs under the data folder (each force's: see the dbt assets)
        "dbt": build_dbt_resource(get_settings().data_dir if settings is None else settings.data_dir),
    }
