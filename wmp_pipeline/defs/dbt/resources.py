"""The dbt area's resource: the dbt CLI of this environment, on the project of :mod:`.project`."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from wmp_pipeline.defs.project import dbt_project


def build_dbt_resource() -> DbtCliResource:
    """The dbt of this environment (beside this Python), so the pipeline works without an activated venv."""
    return DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt")))
