"""The dbt resource: dbt's CLI, with every invocation's artifacts and log under the data folder."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from dagster_dbt import DbtCliResource

from wmp_pipeline.dbt_runtime import dbt_executable, dbt_target_dir
from wmp_pipeline.defs.project import dbt_project

#: Invocation folders kept under the target folder (each holds run_results.json and its dbt.log).
KEEP_INVOCATIONS = 20
_INVOCATION = re.compile(r"^(?:[\w]+-[0-9a-f]{8}-)?[0-9a-f]{7}$")


class WmpDbtCliResource(DbtCliResource):
    """``DbtCliResource`` whose invocations write under ``target_dir`` (default: dbt's own ``target/``).

    dagster-dbt gives each ``dbt.cli(...)`` a fresh target folder (and points
    ``DBT_LOG_PATH`` at it), by default inside the dbt project. Here that
    folder is ``<target_dir>/<op>-<run>-<id>``, the partial parse of the data
    folder's last ``dbt parse`` is copied in so dbt does not parse from
    scratch, and only the newest :data:`KEEP_INVOCATIONS` folders are kept.
    """

    target_dir: str = ""

    def cli(self, args, *, context=None, target_path: Path | None = None, target_dir: str | Path | None = None, **kwargs):
        """``target_dir`` overrides the resource's (a force's own target folder, see the dbt assets)."""
        target_dir = target_dir or self.target_dir
        if target_path is None and target_dir:
            base = Path(target_dir)
            base.mkdir(parents=True, exist_ok=True)
            name = uuid.uuid4().hex[:7]
            if context is not None:
                name = f"{context.op_execution_context.op.name}-{context.run.run_id[:8]}-{name}"
            target_path = base / name
            target_path.mkdir()
            if (base / "partial_parse.msgpack").exists():
                shutil.copy(base / "partial_parse.msgpack", target_path / "partial_parse.msgpack")
            _prune(base, keep=KEEP_INVOCATIONS, current=target_path)
        return super().cli(args, context=context, target_path=target_path, **kwargs)


def _prune(base: Path, keep: int, current: Path) -> None:
    folders = sorted((p for p in base.iterdir() if p.is_dir() and p != current and _INVOCATION.match(p.name)), key=lambda p: p.stat().st_mtime)
    for old in folders[: max(0, len(folders) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def build_dbt_resource(data_dir: Path) -> WmpDbtCliResource:
    return WmpDbtCliResource(
        project_dir=dbt_project, dbt_executable=dbt_executable(), target_dir=str(dbt_target_dir(data_dir))
    )
