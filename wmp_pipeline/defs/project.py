"""The dbt project, and nothing else.

Its target folder (manifest, partial parse) is the data folder's
(``<data folder>/dbt/target``, see :mod:`wmp_pipeline.dbt_runtime`), not the
project's own ``target/``: each data folder parses and builds into its own.
"""

from __future__ import annotations

from dagster_dbt import DbtProject

from wmp_pipeline.dbt_runtime import dbt_target_dir
from wmp_pipeline.settings import DBT_PROJECT_DIR, get_settings

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=dbt_target_dir(get_settings().data_dir),
)
# Under `dagster dev` started by hand, parse into that folder; elsewhere `wmp` and the tests call dbt_parse.
dbt_project.prepare_if_dev()
