"""Build the police.uk dbt staging model on a DuckDB file.

The backtest command reads ``stg_policeuk__street_crimes`` like every other
consumer, so it runs dbt for that model (and its tests) after loading, under
the warehouse writer lock, exactly as the Dagster dbt asset would. Only the
police.uk model is selected: the command must work on a database that has no
CONNECT data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wmp_pipeline.policeuk.events import STAGING_MODEL
from wmp_pipeline.dbt_runtime import dbt_env
from wmp_pipeline.settings import DBT_PROJECT_DIR, get_settings
from wmp_pipeline.warehouse import writer_lock


class StagingBuildError(RuntimeError):
    pass


def dbt_executable() -> str:
    """The dbt of this environment (beside the running Python), else the one on PATH."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else "dbt"


def build_staging(duckdb_path: Path, log=None) -> None:
    """``dbt build --select stg_policeuk__street_crimes`` on ``duckdb_path``."""
    env = dbt_env(get_settings().data_dir, Path(duckdb_path).resolve())  # dbt target and logs: the data folder's
    cmd = [dbt_executable(), "build", "--select", STAGING_MODEL, "--quiet"]
    with writer_lock(Path(duckdb_path)):
        proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StagingBuildError(f"dbt build of {STAGING_MODEL} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    if log is not None:
        log.info(f"dbt built {STAGING_MODEL} and ran its tests")
