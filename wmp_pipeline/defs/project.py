"""The dbt project, and nothing else.

Its target folder (manifest, partial parse) is the data folder's
(``<data folder>/dbt/target``, see :mod:`wmp_pipeline.dbt_runtime`), not the
project's own ``target/``: each data folder parses and builds into its own.
``wmp run``, ``wmp ui`` and the tests parse before loading the definitions;
a code location loaded any other way (``dagster dev`` by hand, a code server
in a container) parses here once if the data folder has no manifest yet.
"""

from __future__ import annotations

from dagster_dbt import DbtProject

from wmp_pipeline.dbt_runtime import dbt_parse, dbt_target_dir
from wmp_pipeline.settings import DBT_PROJECT_DIR, get_settings

_settings = get_settings()
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=dbt_target_dir(_settings.data_dir),
)
if not dbt_project.manifest_path.exists():
    dbt_parse(_settings.data_dir, _settings.duckdb_path)
# under `dagster dev`, re-parse at each load so edited models show (does nothing elsewhere)
dbt_project.prepare_if_dev()
