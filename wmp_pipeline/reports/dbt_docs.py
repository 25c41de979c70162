"""The analysts' documentation site: ``dbt docs generate`` of the week's warehouse.

dbt's documentation site lists every model and seed with its description,
columns, tests and lineage graph, and (from the catalog) the column types and
row counts of the tables as built. The weekly run regenerates it so it always
matches what the analyst file holds.

``--static`` also writes ``static_index.html`` with the manifest and catalog
inside it: a single file that opens from disk (``file://``) with no web
server, which the plain ``index.html`` cannot (it fetches its JSON files).
The site is written to a temporary target path and swapped in whole, so a
reader never sees half of one week and half of another, and the dbt
project's own ``target/`` (whose manifest Dagster loads) is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path

from wmp_pipeline.settings import DBT_PROJECT_DIR
from wmp_pipeline.warehouse import writer_lock

DBT_DOCS_SUBDIR = "dbt_docs"
#: files of dbt's target folder that make up the documentation site
SITE_FILES = ("index.html", "static_index.html", "manifest.json", "catalog.json")


class DbtDocsFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class DbtDocs:
    directory: Path
    files: tuple[str, ...]
    nodes: int
    catalog_tables: int
    seconds: float

    @property
    def static_page(self) -> Path:
        return self.directory / "static_index.html"


def dbt_executable() -> str:
    """The dbt of this Python environment (works without an activated virtualenv)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def generate_dbt_docs(
    duckdb_path: Path,
    out_dir: Path,
    project_dir: Path = DBT_PROJECT_DIR,
    timeout_s: float = 1800.0,
    log=None,
) -> DbtDocs:
    """Run ``dbt docs generate --static`` against ``duckdb_path`` and publish the site in ``out_dir``.

    Holds the warehouse writer lock while dbt has the database open (dbt-duckdb
    opens it for writing). Raises :class:`DbtDocsFailed` with dbt's output on failure.
    """
    import json
    import time

    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".dbt_docs_", dir=out_dir.parent))
    try:
        target = work / "target"
        # its own target folder; dbt.log beside it (dbt's output is in the error if it fails)
        env = {**os.environ, "WMP_DUCKDB_PATH": str(duckdb_path), "DBT_LOG_PATH": str(work / "logs")}
        cmd = [dbt_executable(), "docs", "generate", "--static", "--target-path", str(target),
               "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        if log is not None:
            log.info("dbt docs generate: started")
        with writer_lock(Path(duckdb_path)):
            proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise DbtDocsFailed(f"dbt docs generate failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        site = work / "site"
        site.mkdir()
        copied = []
        for name in SITE_FILES:
            if (target / name).exists():
                shutil.copy2(target / name, site / name)
                copied.append(name)
        if "static_index.html" not in copied:
            raise DbtDocsFailed(f"dbt docs generate wrote no static_index.html in {target}")
        manifest = json.loads((site / "manifest.json").read_text()) if "manifest.json" in copied else {}
        catalog = json.loads((site / "catalog.json").read_text()) if "catalog.json" in copied else {}
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out_dir.exists():
            out_dir.rename(old)
        site.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    docs = DbtDocs(
        directory=out_dir,
        files=tuple(copied),
        nodes=len(manifest.get("nodes", {})),
        catalog_tables=len(catalog.get("nodes", {})) + len(catalog.get("sources", {})),
        seconds=time.monotonic() - started,
    )
    if log is not None:
        log.info(f"dbt docs generate: {docs.nodes} nodes, {docs.catalog_tables} tables in the catalog, {docs.seconds:.1f}s")
    return docs


#: Written next to the docs site: the fingerprint of what it was generated from.
DOCS_STAMP = "wmp_docs_inputs.json"
#: Folders of the dbt project that are outputs or caches, not sources of the docs.
_DBT_NON_SOURCES = {"target", "logs", "dbt_packages"}


def _dbt_relations(manifest_path: Path) -> set[tuple[str, str]] | None:
    """(schema, table) of every model, seed and source in the dbt manifest; None without a manifest."""
    try:
        manifest = json.loads(Path(manifest_path).read_text())
    except (OSError, ValueError):
        return None
    out = {
        (n["schema"], n.get("alias") or n["name"])
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") in ("model", "seed", "snapshot")
    }
    out |= {(n["schema"], n.get("identifier") or n["name"]) for n in manifest.get("sources", {}).values()}
    return out


def docs_inputs(con, database_path: str, project_dir: Path = DBT_PROJECT_DIR, manifest_path: Path | None = None) -> str:
    """Fingerprint of everything the dbt docs site shows: the dbt project's files,
    dbt's version and the warehouse's columns (types, comments) of the relations dbt documents.

    The catalog of dbt-duckdb holds no row counts, so a week that only adds
    rows gives the same site.
    """
    h = hashlib.sha256()
    for pkg in ("dbt-core", "dbt-duckdb"):
        try:
            h.update(f"{pkg}={package_metadata.version(pkg)}\n".encode())
        except package_metadata.PackageNotFoundError:
            pass
    h.update(f"database={Path(database_path).stem}\n".encode())
    for path in sorted(Path(project_dir).rglob("*")):
        rel = path.relative_to(project_dir)
        if not path.is_file() or rel.parts[0] in _DBT_NON_SOURCES or any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"file={rel.as_posix()}\n".encode())
        h.update(path.read_bytes())
    relations = _dbt_relations(manifest_path or Path(project_dir) / "target" / "manifest.json")
    columns = con.execute(
        "select schema_name, table_name, column_index, column_name, data_type, coalesce(comment, '') "
        "from duckdb_columns() where database_name = current_database() and schema_name <> 'temp' order by all"
    ).fetchall()
    tables = con.execute(
        "select schema_name, table_name, 'table', coalesce(comment, '') from duckdb_tables() "
        "where database_name = current_database() and not temporary "
        "union all select schema_name, view_name, 'view', coalesce(comment, '') from duckdb_views() "
        "where database_name = current_database() and not internal and not temporary order by all"
    ).fetchall()
    for row in [*tables, *columns]:
        if relations is None or (row[0], row[1]) in relations:
            h.update(("\x1f".join(map(str, row)) + "\n").encode())
    return h.hexdigest()


def read_stamp(out: Path) -> dict:
    """The stamp of the site in ``out`` ({} when there is no complete site)."""
    try:
        stamp = json.loads((out / DOCS_STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if (out / "static_index.html").exists() else {}


def write_stamp(out: Path, inputs: str, docs: DbtDocs) -> None:
    """Record what the site in ``out`` was generated from (read back by :func:`read_stamp`)."""
    generated_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    (out / DOCS_STAMP).write_text(
        json.dumps({"inputs": inputs, "generated_at": generated_at, "nodes": docs.nodes, "catalog_tables": docs.catalog_tables})
    )
