"""Resources, configured in one place from :mod:`wmp_pipeline.settings`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from wmp_pipeline import warehouse
from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.settings import Settings, get_settings


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
    """Paths and modes read from the environment when the resource is built."""

    landing_dir: str
    ground_truth_dir: str
    analyst_db_path: str
    artifacts_dir: str
    boundary_file: str = ""
    pseudonym_key: str
    mode: str = "development"

    def settings(self) -> Settings:
        base = get_settings()
        return Settings(
            data_dir=base.data_dir,
            landing_dir=Path(self.landing_dir),
            ground_truth_dir=Path(self.ground_truth_dir),
            duckdb_path=base.duckdb_path,
            analyst_db_path=Path(self.analyst_db_path),
            artifacts_dir=Path(self.artifacts_dir),
            boundary_file=Path(self.boundary_file) if self.boundary_file else None,
            pseudonym_key=self.pseudonym_key,
            mode=self.mode,
        )


def build_resources(settings: Settings | None = None) -> dict:
    # imported here: wmp_pipeline.defs.iom's assets import this module
    from wmp_pipeline.defs.iom.resources import IomResource

    s = settings or get_settings()
    return {
        "warehouse": WarehouseResource(database_path=str(s.duckdb_path)),
        "pipeline": PipelineSettingsResource(
            landing_dir=str(s.landing_dir),
            ground_truth_dir=str(s.ground_truth_dir),
            analyst_db_path=str(s.analyst_db_path),
            artifacts_dir=str(s.artifacts_dir),
            boundary_file=str(s.boundary_file or ""),
            pseudonym_key=s.pseudonym_key,
            mode=s.mode,
        ),
        "iom": IomResource(),
        # The dbt of this environment, so the pipeline works without an activated venv.
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt"))),
    }
