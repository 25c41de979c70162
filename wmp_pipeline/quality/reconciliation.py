"""Every delivered row is accounted for: delivered = loaded + quarantined, per drop and file.

The contract promises that a drop that breaks it is answered "with a clear
error or a quarantine, never a silent loss". The ingest writes, per applied
drop, what each file delivered (``raw.connect_drop_log.files``, JSON keyed by
table name: ``{"rows_delivered": n, "rows_loaded": n, "rows_quarantined": n, ...}``).
This module recounts what is actually in the database and compares:

- ``rows_delivered`` (from the drop log, itself checked against the manifest
  at load time) must equal the rows in ``raw.connect_<table>`` with that
  ``_drop_id`` plus the rows in ``raw.connect_quarantine`` with that
  ``drop_id`` and ``table_name``;
- the counts the log recorded must equal what is there now (a row deleted or
  added after the load shows up here);
- rows whose ``_drop_id`` has no drop-log entry are reported as unlogged.

Pure SQL over a DuckDB connection; no Dagster, so it is tested on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from wmp_pipeline.contract import TABLES
from wmp_pipeline.tables import CONNECT_DROP_LOG, CONNECT_QUARANTINE
from wmp_pipeline.warehouse import table_exists


@dataclass(frozen=True)
class FileReconciliation:
    drop_id: str
    table: str
    file_name: str
    rows_delivered: int
    logged_loaded: int
    logged_quarantined: int
    rows_in_raw: int
    rows_in_quarantine: int

    @property
    def missing(self) -> int:
        """Delivered rows found in neither the raw table nor quarantine (negative: extra rows)."""
        return self.rows_delivered - self.rows_in_raw - self.rows_in_quarantine

    @property
    def logged(self) -> bool:
        """False when the drop log has no counts for this table's file."""
        return self.rows_delivered >= 0

    @property
    def balanced(self) -> bool:
        return (
            self.logged
            and self.missing == 0
            and self.logged_loaded == self.rows_in_raw
            and self.logged_quarantined == self.rows_in_quarantine
        )

    @property
    def problem(self) -> str:
        if self.balanced:
            return ""
        if not self.logged:
            return "the drop log holds no delivered / loaded / quarantined counts for this file"
        parts = []
        if self.missing > 0:
            parts.append(f"{self.missing:,} delivered row(s) neither loaded nor quarantined")
        elif self.missing < 0:
            parts.append(f"{-self.missing:,} more row(s) than were delivered")
        if self.logged_loaded != self.rows_in_raw:
            parts.append(f"drop log says {self.logged_loaded:,} loaded, raw table has {self.rows_in_raw:,}")
        if self.logged_quarantined != self.rows_in_quarantine:
            parts.append(f"drop log says {self.logged_quarantined:,} quarantined, quarantine has {self.rows_in_quarantine:,}")
        return "; ".join(parts)


@dataclass(frozen=True)
class ReconciliationReport:
    files: tuple[FileReconciliation, ...]
    #: (table, _drop_id, rows) for raw rows whose drop is not in the drop log
    unlogged: tuple[tuple[str, str, int], ...] = ()

    @property
    def balanced(self) -> bool:
        return not self.unlogged and all(f.balanced for f in self.files)

    def for_table(self, table: str) -> ReconciliationReport:
        return ReconciliationReport(
            files=tuple(f for f in self.files if f.table == table),
            unlogged=tuple(u for u in self.unlogged if u[0] == table),
        )

    @property
    def problems(self) -> list[str]:
        out = [f"drop {f.drop_id} {f.file_name}: {f.problem}" for f in self.files if not f.balanced]
        out += [f"{rows:,} {t} row(s) from drop {d}, which is not in the drop log" for t, d, rows in self.unlogged]
        return out

    def frame(self) -> pd.DataFrame:
        """One row per drop and file, for metadata and the ``dq_drop_reconciliation`` table."""
        return pd.DataFrame(
            [
                {
                    "drop_id": f.drop_id,
                    "table_name": f.table,
                    "file_name": f.file_name,
                    "rows_delivered": f.rows_delivered,
                    "rows_loaded": f.rows_in_raw,
                    "rows_quarantined": f.rows_in_quarantine,
                    "rows_missing": f.missing,
                    "balanced": f.balanced,
                    "problem": f.problem,
                }
                for f in self.files
            ],
            columns=[
                "drop_id", "table_name", "file_name", "rows_delivered", "rows_loaded",
                "rows_quarantined", "rows_missing", "balanced", "problem",
            ],
        )


def reconcile_drops(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = TABLES) -> ReconciliationReport:
    """Recount every applied drop's files against the raw tables and quarantine."""
    if not table_exists(con, CONNECT_DROP_LOG):
        return ReconciliationReport(files=())
    logged = con.execute(f"select drop_id, files from {CONNECT_DROP_LOG} order by extract_date, drop_id").fetchall()
    loaded: dict[tuple[str, str], int] = {}
    for table in tables:
        if table_exists(con, f"raw.connect_{table}"):
            for drop_id, n in con.execute(f"select _drop_id, count(*) from raw.connect_{table} group by 1").fetchall():
                loaded[(table, drop_id)] = n
    quarantined: dict[tuple[str, str], int] = {}
    if table_exists(con, CONNECT_QUARANTINE):
        for drop_id, table, n in con.execute(
            f"select drop_id, table_name, count(*) from {CONNECT_QUARANTINE} group by 1, 2"
        ).fetchall():
            quarantined[(table, drop_id)] = n

    files = []
    logged_ids = set()
    for drop_id, files_json in logged:
        logged_ids.add(drop_id)
        per_table = json.loads(files_json) if files_json else {}
        for table in tables:
            entry = per_table.get(table)
            if entry is None:
                # A drop must deliver every table; a log without it cannot be reconciled.
                entry = {"file_name": f"<{table} file not in drop log>", "rows_delivered": -1, "rows_loaded": -1, "rows_quarantined": -1}
            files.append(
                FileReconciliation(
                    drop_id=drop_id,
                    table=table,
                    file_name=str(entry.get("file_name", table)),
                    rows_delivered=int(entry.get("rows_delivered", -1)),
                    logged_loaded=int(entry.get("rows_loaded", -1)),
                    logged_quarantined=int(entry.get("rows_quarantined", -1)),
                    rows_in_raw=loaded.get((table, drop_id), 0),
                    rows_in_quarantine=quarantined.get((table, drop_id), 0),
                )
            )
    stray: dict[tuple[str, str], int] = {}
    for counts in (loaded, quarantined):
        for (table, drop_id), n in counts.items():
            if drop_id not in logged_ids:
                stray[(table, drop_id)] = stray.get((table, drop_id), 0) + n
    unlogged = tuple(sorted((t, d, n) for (t, d), n in stray.items()))
    return ReconciliationReport(files=tuple(files), unlogged=unlogged)
