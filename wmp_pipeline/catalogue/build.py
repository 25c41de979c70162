"""Build the national analyst catalogue from the forces' analyst files, atomically.

Each force publishes its own analyst file (``<force data>/analyst/wmp_analyst.duckdb``:
no person identifiers, offenders under that force's own pseudonym key).
The catalogue copies the analyst tables of every force whose latest run
succeeded into one file, each table with a leading ``force`` column, so one
query answers across forces::

    select force, target, rank, cell_id from hotspot_predictions where rank <= 3

Tables: every analyst table any force published (:data:`CATALOGUE_TABLES`,
rows of all forces, ``UNION ALL BY NAME``: a column one force lacks is NULL
for it, e.g. police.uk forces have no IOM tables), the view
``hotspot_hit_rates`` (model and baselines' pooled backtest hit rate and PAI
of every force, CONNECT weekly and police.uk monthly alike), and
:data:`FORCES_TABLE`: one row per registry force with its status (``ok``,
``failed`` with the cause, ``no output``), its source, its analyst file and
when it was published. A failed force's rows are left out: the catalogue is
built from what succeeded, and says which force failed and why.

Like the force files, the catalogue is written to a new file, checkpointed,
``fsync``-ed and ``os.replace``-d over the old one, read-only (as the force files), so a reader (open it
read-only) sees the old or the new catalogue, never a half-built one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from wmp_pipeline.privacy.file_permissions import make_read_only
from wmp_pipeline.publish.analyst_file import ANALYST_STORAGE_VERSION, ANALYST_TABLES, MANIFEST_TABLE

FORCES_TABLE = "catalogue_forces"
HIT_RATES_VIEW = "hotspot_hit_rates"
CATALOGUE_FILE = "national_catalogue.duckdb"
#: the per-force analyst tables the catalogue unions (those a force has)
CATALOGUE_TABLES: tuple[str, ...] = tuple(t for t in ANALYST_TABLES if t != "hotspot_cells")


def catalogue_path(data_dir: Path) -> Path:
    """``<data>/analyst/national_catalogue.duckdb``."""
    return Path(data_dir) / "analyst" / CATALOGUE_FILE


@dataclass(frozen=True)
class ForceStatus:
    """What the catalogue knows of one force before reading its file."""

    slug: str
    name: str
    source: str
    analyst_file: Path
    #: "ok" (latest run succeeded), "failed" (latest run failed), "not run" (no run recorded)
    run_status: str = "not run"
    detail: str = ""
    run_id: str = ""


@dataclass
class CatalogueResult:
    path: Path
    forces: pd.DataFrame
    tables: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def failed(self) -> list[str]:
        return list(self.forces.loc[self.forces["status"] != "ok", "force"])


def _tables(con: duckdb.DuckDBPyConnection, alias: str) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'", [alias]
    ).fetchall()
    return {r[0] for r in rows}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _published_at(con, alias: str, tables: set[str]):
    if MANIFEST_TABLE not in tables:
        return None
    return con.execute(f"SELECT max(published_at) FROM {alias}.{MANIFEST_TABLE}").fetchall()[0][0]


def build_catalogue(path: Path, forces: list[ForceStatus]) -> CatalogueResult:
    """Write the catalogue of ``forces`` to ``path`` (replaced atomically); see the module doc."""
    started = time.monotonic()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for p in (staged, staged.with_name(staged.name + ".wal")):
        p.unlink(missing_ok=True)
    rows, sources = [], {}
    old_umask = os.umask(0o077)
    try:
        con = duckdb.connect()
        try:
            # the analysts' DuckDB client reads the v1.0 storage format (as the force files)
            con.execute(f"ATTACH {_quote(str(staged))} AS catalogue (STORAGE_VERSION {_quote(ANALYST_STORAGE_VERSION)})")
            con.execute("USE catalogue")
            for i, f in enumerate(forces):
                row = {
                    "force": f.slug, "name": f.name, "source": f.source, "analyst_file": str(f.analyst_file),
                    "status": "ok", "detail": f.detail, "run_id": f.run_id, "published_at": None, "tables": 0,
                }
                if f.run_status == "failed":
                    row.update(status="failed", detail=f.detail or "its latest run failed")
                elif not f.analyst_file.exists():
                    row.update(status="no output", detail=f.detail or "no analyst file published yet")
                else:
                    alias = f"force_{i}"
                    con.execute(f"ATTACH {_quote(str(f.analyst_file))} AS {alias} (READ_ONLY)")
                    present = _tables(con, alias)
                    row["published_at"] = _published_at(con, alias, present)
                    for table in CATALOGUE_TABLES:
                        if table in present:
                            sources.setdefault(table, []).append((f.slug, alias))
                            row["tables"] += 1
                rows.append(row)
            counts = {}
            for table, parts in sources.items():
                union = " UNION ALL BY NAME ".join(
                    f"SELECT {_quote(slug)} AS force, * FROM {alias}.main.{table}" for slug, alias in parts
                )
                con.execute(f"CREATE TABLE catalogue.main.{table} AS {union}")
                counts[table] = int(con.execute(f"SELECT count(*) FROM catalogue.main.{table}").fetchall()[0][0])
            status = pd.DataFrame(rows)
            status["published_at"] = pd.to_datetime(status["published_at"])
            status["built_at"] = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
            con.register("_status", status)
            con.execute(f"CREATE TABLE catalogue.main.{FORCES_TABLE} AS SELECT * FROM _status")
            con.unregister("_status")
            _hit_rate_view(con, set(sources))
            for i in range(len(forces)):
                if con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [f"force_{i}"]).fetchall()[0][0]:
                    con.execute(f"DETACH force_{i}")
            con.execute("USE memory")
            con.execute("CHECKPOINT catalogue")
            con.execute("DETACH catalogue")
        finally:
            con.close()
        fd = os.open(staged, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        make_read_only(staged)
        os.replace(staged, path)
    except BaseException:
        for p in (staged, staged.with_name(staged.name + ".wal")):
            p.unlink(missing_ok=True)
        raise
    finally:
        os.umask(old_umask)
    return CatalogueResult(path=path, forces=status, tables=counts, elapsed_s=round(time.monotonic() - started, 2))


def _hit_rate_view(con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    """``force, source, period, target, model, area_share, hit_rate, pai``: pooled backtests of every force."""
    parts = []
    if "hotspot_backtest_metrics" in tables:
        # the newest backtest run of each CONNECT force, pooled over its origins
        parts.append(
            "SELECT force, 'connect' AS source, 'week' AS period, target, model, area_share, hit_rate, pai, n_crimes "
            "FROM hotspot_backtest_metrics b WHERE scope = 'overall' AND run_id = "
            "(SELECT arg_max(run_id, created_at) FROM hotspot_backtest_metrics c WHERE c.force = b.force)"
        )
    if "policeuk_backtest_metrics" in tables:
        parts.append(
            "SELECT force, 'policeuk' AS source, 'month' AS period, target, model, area_share, hit_rate, pai, n_crimes "
            "FROM policeuk_backtest_metrics p WHERE scope = 'overall' AND run_id = "
            "(SELECT arg_max(run_id, created_at) FROM policeuk_backtest_metrics q WHERE q.force = p.force)"
        )
    if parts:
        con.execute(f"CREATE VIEW catalogue.main.{HIT_RATES_VIEW} AS " + " UNION ALL ".join(parts))
