"""Resources, configured in one place from :mod:`wmp_pipeline.settings`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from wmp_pipeline import warehouse
from wmp_pipeline.defs.dbt.resources import build_dbt_resource
from wmp_pipeline.settings import Settings, get_settings


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


def _ingest_resource():
    from wmp_pipeline.defs.ingest.resources import ingest_resource

    return ingest_resource(dict(os.environ))


def build_resources(settings: Settings | None = None) -> dict:
    # imported here: wmp_pipeline.defs.iom's assets import this module
    from wmp_pipeline.defs.iom.resources import IomResource

    s = settings or get_settings()
    return {
        "warehouse": WarehouseResource(database_path=str(s.duckdb_path), data_dir=str(s.data_dir)),
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
        "ingest": _ingest_resource(),
        # dbt of this environment; target and logs under the data folder (defs/dbt/resources.py)
        "dbt": build_dbt_resource(s.data_dir),
    }
