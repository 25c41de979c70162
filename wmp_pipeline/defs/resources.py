"""Resources, configured in one place from :mod:`wmp_pipeline.settings` and the force registry.

One code location serves every force of the registry. The resources that
hold paths (:class:`PipelineSettingsResource`, :class:`WarehouseResource`)
learn the force of the run they serve when the run starts (from its
``force`` partition tag, :func:`force_slug_of_run`) and hand every asset that
force's own settings: its folders, its DuckDB file, its pseudonym key. A run
without a force tag (an unpartitioned asset) serves the registry's default force.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr
from dagster_dbt import DbtCliResource

from wmp_pipeline import warehouse
from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.forces import FORCES_FILE_ENV, Force, ForceRegistry, load_registry, settings_for
from wmp_pipeline.forces.settings import force_data_dir
from wmp_pipeline.settings import Settings, get_settings

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
    forces_file: str = ""
    _force_slug: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._force_slug = force_slug_of_run(context.run)
        self.force()  # an unknown force fails here, naming the known ones

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
    """The run's force's working DuckDB file. Writers are serialised by a file lock."""

    #: the data-folder force's file (WMP_DUCKDB_PATH); other forces use <data>/forces/<slug>/warehouse
    database_path: str
    data_dir: str = ""

    @property
    def path(self) -> Path:
        data_dir = Path(self.data_dir) if self.data_dir else get_settings().data_dir
        root = force_data_dir(self.force(), data_dir)
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
    """Paths and modes read from the environment when the resource is built, moved to the run's force."""

    landing_dir: str
    ground_truth_dir: str
    analyst_db_path: str
    artifacts_dir: str
    boundary_file: str = ""
    pseudonym_key: str
    mode: str = "development"
    data_dir: str = ""
    duckdb_path: str = ""

    def settings(self) -> Settings:
        """The run's force's settings (see :func:`wmp_pipeline.forces.settings_for`)."""
        return settings_for(self.force(), self.base_settings())

    def base_settings(self) -> Settings:
        base = get_settings()
        return Settings(
            data_dir=Path(self.data_dir) if self.data_dir else base.data_dir,
            landing_dir=Path(self.landing_dir),
            ground_truth_dir=Path(self.ground_truth_dir),
            duckdb_path=Path(self.duckdb_path) if self.duckdb_path else base.duckdb_path,
            analyst_db_path=Path(self.analyst_db_path),
            artifacts_dir=Path(self.artifacts_dir),
            boundary_file=Path(self.boundary_file) if self.boundary_file else None,
            pseudonym_key=self.pseudonym_key,
            mode=self.mode,
        )


def build_resources(settings: Settings | None = None, forces_file: str | Path | None = None) -> dict:
    """The resources of ``settings`` (default: the environment) and the registry ``forces_file``
    (default: ``WMP_FORCES_FILE``, else the embedded one)."""
    s = settings or get_settings()
    registry = str(forces_file or os.environ.get(FORCES_FILE_ENV, ""))
    return {
        "warehouse": WarehouseResource(database_path=str(s.duckdb_path), data_dir=str(s.data_dir), forces_file=registry),
        "pipeline": PipelineSettingsResource(
            forces_file=registry,
            data_dir=str(s.data_dir),
            duckdb_path=str(s.duckdb_path),
            landing_dir=str(s.landing_dir),
            ground_truth_dir=str(s.ground_truth_dir),
            analyst_db_path=str(s.analyst_db_path),
            artifacts_dir=str(s.artifacts_dir),
            boundary_file=str(s.boundary_file or ""),
            pseudonym_key=s.pseudonym_key,
            mode=s.mode,
        ),
        # The dbt of this environment, so the pipeline works without an activated venv.
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt"))),
    }
