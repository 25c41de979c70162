"""The dbt project, and nothing else."""

from __future__ import annotations

from dagster_dbt import DbtProject

from wmp_pipeline.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
