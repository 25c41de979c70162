"""Where dbt writes, per data folder, and running dbt outside Dagster.

dbt's ``target/`` (manifest, run results, partial parse) and ``logs/`` live
under the data folder, in ``<data folder>/dbt/target`` and
``<data folder>/dbt/logs``, never in the dbt project: two clones, or two
``WMP_DATA_DIR`` on one clone, never share a manifest or a log, and a run on
one data folder cannot corrupt the manifest another is reading. Every dbt
command the pipeline runs gets these paths (``--target-path`` / ``--log-path``
or ``DBT_TARGET_PATH`` / ``DBT_LOG_PATH``); the Dagster dbt resource puts each
invocation's artifacts and ``dbt.log`` in a folder of its own under the
target folder (see :mod:`wmp_pipeline.defs.dbt.resources`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wmp_pipeline.settings import DBT_PROJECT_DIR


def dbt_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "dbt"


def dbt_target_dir(data_dir: Path) -> Path:
    """dbt's target folder for this data folder (``manifest.json`` is read from here)."""
    return dbt_dir(data_dir) / "target"


def dbt_log_dir(data_dir: Path) -> Path:
    return dbt_dir(data_dir) / "logs"


def dbt_executable() -> str:
    """The dbt beside the running Python (works without an activated virtualenv), else the one on PATH."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else "dbt"


def dbt_env(data_dir: Path, duckdb_path: Path, base: dict | None = None) -> dict[str, str]:
    """Environment for a dbt subprocess on ``duckdb_path`` that writes its target and logs under ``data_dir``."""
    return {
        **(os.environ if base is None else base),
        "WMP_DUCKDB_PATH": str(duckdb_path),
        "DBT_TARGET_PATH": str(dbt_target_dir(data_dir)),
        "DBT_LOG_PATH": str(dbt_log_dir(data_dir)),
    }


def dbt_parse(data_dir: Path, duckdb_path: Path, quiet: bool = True) -> Path:
    """``dbt parse`` into the data folder's target; returns the manifest's path.

    Dagster reads the manifest when the definitions are imported, and
    ``DbtProject.prepare_if_dev()`` only parses under ``dagster dev``, so
    ``wmp run``, ``wmp ui`` and the tests call this first.
    """
    cmd = [dbt_executable(), "parse", *(["--quiet"] if quiet else [])]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=dbt_env(data_dir, duckdb_path), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"dbt parse of {DBT_PROJECT_DIR} failed (exit {proc.returncode}); dbt log in {dbt_log_dir(data_dir)}:\n"
            f"{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
        )
    return dbt_target_dir(data_dir) / "manifest.json"
