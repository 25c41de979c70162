"""dbt models on DuckDB as Dagster assets, joined to the raw ingest assets."""


import os
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from wmp_pipeline.dbt_runtime import dbt_target_dir
from wmp_pipeline.defs.project import dbt_project
from wmp_pipeline.defs.partitions import force_week_partitions
from wmp_pipeline.defs.resources import WarehouseResource

_GROUP_BY_FOLDER = {"staging": "staging", "intermediate": "intermediate", "marts": "marts"}


class WmpDbtTranslator(DagsterDbtTranslator):
    """Groups dbt models by layer (staging / intermediate / marts) and the seed as reference.

    Asset keys stay dagster-dbt's defaults (the bare model name); sources take
    the asset key in their YAML ``meta`` so they join the raw ingest assets.
    """

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: "DbtProject | None") -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec  # its key and group come from the source's YAML meta (the raw ingest asset)
        return spec.replace_attributes(group_name=group_for(props))


def group_for(props: Mapping[str, Any]) -> str:
    """The Dagster group of a dbt model or seed, from its folder."""
    if props["resource_type"] == "seed":
        return "reference"
    fqn = props.get("fqn", [])
    if "policeuk" in fqn[1:-1]:
        return "policeuk"
    for part in fqn[1:-1]:
        if part in _GROUP_BY_FOLDER:
            # IOM-specific models live under <layer>/iom and join the iom group
            return "iom" if "iom" in fqn[1:-1] else _GROUP_BY_FOLDER[part]
    return "dbt"


translator = WmpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator,
    partitions_def=force_week_partitions,
)
def wmp_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """``dbt build`` (models, seed, data tests and unit tests) on the run's force's working DuckDB file.

    dbt writes the same file as the Python assets (WMP_DUCKDB_PATH, set for
    the subprocess only), under the same writer lock, so no two processes ever
    write it at once; its target folder (run results, partial parse) sits
    under that force's data folder (``<force data>/dbt/target``), so two forces' runs never share one.
    """
    path = warehouse.path
    env = {"WMP_DUCKDB_PATH": str(path)}
    with warehouse.writer_lock(), _environment(env):
        # Not .fetch_column_metadata(): it reads each built model through a dbt adapter in this
        # process while dbt's subprocess still holds the DuckDB file (one process per file).
        yield from dbt.cli(["build"], context=context, target_dir=dbt_target_dir(warehouse.force_dir)).stream()


@contextmanager
def _environment(values: dict[str, str]):
    """Set ``values`` in the environment dbt's subprocess inherits, and restore it afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


assets = [wmp_dbt_models]
