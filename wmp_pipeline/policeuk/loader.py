"""Load a folder of police.uk street-level files into the working DuckDB.

Two tables in schema ``raw``:

``raw.policeuk_street``
    every row of every loaded file: the twelve police.uk columns (snake_case,
    empty cells as NULL, longitude/latitude as DOUBLE), ``easting`` and
    ``northing`` (EPSG:27700, converted at load time, see
    :mod:`wmp_pipeline.policeuk.coordinates`), and lineage: ``_file_name``,
    ``_file_month`` and ``_force_slug`` (from the file name), ``_row_number``
    (1-based data row in the file), ``_loaded_at``, ``_file_sha256`` (of the
    decompressed CSV).
``raw.policeuk_file_ledger``
    one row per force and month loaded: file name, sha256, row counts, when,
    and the sha256 it replaced (if any).

Loading is idempotent. A file whose force, month and content hash are in the
ledger is skipped. A file for a force and month already loaded with a
*different* hash (police.uk re-publishes months when forces correct their
data) replaces that month's rows: the old rows are deleted and the new ones
inserted in one transaction, and the ledger keeps the previous hash. Each
file is its own transaction, so a file that fails to parse leaves the files
before it loaded and nothing of itself.

Rows without coordinates (police.uk withholds a location for some crimes) are
kept with NULL longitude/latitude/easting/northing and counted in the report
and the ledger; nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from wmp_pipeline import tables
from wmp_pipeline.policeuk.coordinates import to_bng
from wmp_pipeline.policeuk.files import STREET_COLUMNS, StreetFile, find_street_files, read_street_file
from wmp_pipeline.progress import Progress

RAW_SCHEMA = tables.RAW_SCHEMA
STREET_TABLE = tables.POLICEUK_STREET
LEDGER_TABLE = tables.POLICEUK_FILE_LEDGER

#: police.uk column -> raw table column
COLUMN_NAMES = {c: c.lower().replace(" ", "_") for c in STREET_COLUMNS}

#: The raw table's columns and types. The dbt staging model's pre-hook creates
#: the same (empty) table when nothing has been loaded yet, so that the
#: staging view builds in every run; keep the two in step (a test compares them).
STREET_SCHEMA: dict[str, str] = {
    "crime_id": "VARCHAR",
    "month": "VARCHAR",
    "reported_by": "VARCHAR",
    "falls_within": "VARCHAR",
    "longitude": "DOUBLE",
    "latitude": "DOUBLE",
    "location": "VARCHAR",
    "lsoa_code": "VARCHAR",
    "lsoa_name": "VARCHAR",
    "crime_type": "VARCHAR",
    "last_outcome_category": "VARCHAR",
    "context": "VARCHAR",
    "easting": "DOUBLE",
    "northing": "DOUBLE",
    "_file_name": "VARCHAR",
    "_file_month": "VARCHAR",
    "_force_slug": "VARCHAR",
    "_row_number": "INTEGER",
    "_loaded_at": "TIMESTAMP",
    "_file_sha256": "VARCHAR",
}

LEDGER_SCHEMA: dict[str, str] = {
    "force_slug": "VARCHAR",
    "file_month": "VARCHAR",
    "file_name": "VARCHAR",
    "file_sha256": "VARCHAR",
    "rows_loaded": "INTEGER",
    "rows_without_location": "INTEGER",
    "loaded_at": "TIMESTAMP",
    "replaced_sha256": "VARCHAR",
}

_LOG = logging.getLogger("wmp_pipeline.policeuk")


def street_table_ddl() -> str:
    cols = ", ".join(f"{c} {t}" for c, t in STREET_SCHEMA.items())
    return f"CREATE TABLE IF NOT EXISTS {STREET_TABLE} ({cols})"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables if absent, and refuse a raw table of another layout."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(street_table_ddl())
    ledger_cols = ", ".join(f"{c} {t}" for c, t in LEDGER_SCHEMA.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} ({ledger_cols}, PRIMARY KEY (force_slug, file_month))")
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE {STREET_TABLE}").fetchall()}
    if have != STREET_SCHEMA:
        raise RuntimeError(f"{STREET_TABLE} has columns {have}, expected {STREET_SCHEMA}")


@dataclass
class FileResult:
    file_name: str
    force_slug: str
    month: str
    #: 'loaded' (new month), 'replaced' (month loaded before with other content),
    #: 'unchanged' (same content already loaded), 'duplicate' (same content as
    #: another file of this folder for the same month)
    status: str
    rows: int = 0
    rows_without_location: int = 0
    rows_bad_coordinates: int = 0
    rows_month_mismatch: int = 0


@dataclass
class LoadReport:
    folder: str
    files: list[FileResult] = field(default_factory=list)

    def _sum(self, attr: str, statuses: Iterable[str] = ("loaded", "replaced")) -> int:
        return sum(getattr(f, attr) for f in self.files if f.status in statuses)

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows")

    @property
    def rows_without_location(self) -> int:
        return self._sum("rows_without_location")

    @property
    def rows_bad_coordinates(self) -> int:
        return self._sum("rows_bad_coordinates")

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> str:
        return (
            f"police.uk folder {self.folder}: {len(self.files)} street files; "
            f"{self.count('loaded')} loaded, {self.count('replaced')} replaced, "
            f"{self.count('unchanged')} unchanged, {self.count('duplicate')} duplicate; "
            f"{self.rows_loaded} rows loaded, of which {self.rows_without_location} without a location"
            + (f" ({self.rows_bad_coordinates} with unreadable or out-of-GB coordinates)" if self.rows_bad_coordinates else "")
        )


def shape_rows(rows: pd.DataFrame, file: StreetFile, sha256: str, loaded_at: datetime) -> pd.DataFrame:
    """The raw table rows of one parsed file (pure): renamed, typed, converted, with lineage."""
    out = rows.rename(columns=COLUMN_NAMES).copy()
    for c in out.columns:
        out[c] = out[c].str.strip().replace("", None)
    lon = pd.to_numeric(out["longitude"], errors="coerce").to_numpy(dtype="float64")
    lat = pd.to_numeric(out["latitude"], errors="coerce").to_numpy(dtype="float64")
    easting, northing = to_bng(lon, lat)
    out["longitude"] = lon
    out["latitude"] = lat
    out["easting"] = easting
    out["northing"] = northing
    out["_file_name"] = file.name
    out["_file_month"] = file.month
    out["_force_slug"] = file.force_slug
    out["_row_number"] = np.arange(1, len(out) + 1, dtype="int32")
    out["_loaded_at"] = pd.Timestamp(loaded_at)
    out["_file_sha256"] = sha256
    return out[list(STREET_SCHEMA)]


def _counts(raw: pd.DataFrame, shaped: pd.DataFrame, month: str) -> dict[str, int]:
    supplied = (raw["Longitude"].str.strip() != "") | (raw["Latitude"].str.strip() != "")
    located = shaped["easting"].notna().to_numpy()
    return {
        "rows": len(shaped),
        "rows_without_location": int((~located).sum()),
        "rows_bad_coordinates": int((supplied.to_numpy() & ~located).sum()),
        "rows_month_mismatch": int((shaped["month"].fillna("") != month).sum()),
    }


def _ledger(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    return {(f, m): sha for f, m, sha in con.execute(f"SELECT force_slug, file_month, file_sha256 FROM {LEDGER_TABLE}").fetchall()}


def load_folder(con: duckdb.DuckDBPyConnection, folder: Path, log=None) -> LoadReport:
    """Load every street-level file under ``folder`` that is new or changed (see the module doc)."""
    log = log if log is not None else _LOG
    ensure_tables(con)
    files = find_street_files(folder)
    report = LoadReport(folder=str(folder))
    ledger = _ledger(con)
    loaded_at = datetime.now().replace(microsecond=0)
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    with Progress("police.uk load", total=len(files), log=log) as progress:
        for file in files:
            key = (file.force_slug, file.month)
            rows, sha = read_street_file(file.path)
            if key in seen:
                other_name, other_sha = seen[key]
                if other_sha != sha:
                    raise ValueError(
                        f"{file.name} and {other_name} are both {file.force_slug} {file.month} "
                        "with different content: keep one of them in the folder"
                    )
                report.files.append(FileResult(file.name, file.force_slug, file.month, "duplicate"))
                progress.update()
                continue
            seen[key] = (file.name, sha)
            if ledger.get(key) == sha:
                report.files.append(FileResult(file.name, file.force_slug, file.month, "unchanged"))
                progress.update()
                continue
            shaped = shape_rows(rows, file, sha, loaded_at)
            counts = _counts(rows, shaped, file.month)
            status = "replaced" if key in ledger else "loaded"
            _write_file(con, shaped, file, sha, counts, loaded_at, ledger.get(key))
            ledger[key] = sha
            report.files.append(FileResult(file.name, file.force_slug, file.month, status, **counts))
            progress.update(note=f"{file.name}: {counts['rows']} rows")
    log.info(report.summary())
    return report


def _write_file(con, shaped: pd.DataFrame, file: StreetFile, sha: str, counts: dict, loaded_at: datetime, previous: str | None) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {STREET_TABLE} WHERE _force_slug = ? AND _file_month = ?", [file.force_slug, file.month])
        con.register("_policeuk_rows", shaped)
        con.execute(f"INSERT INTO {STREET_TABLE} BY NAME SELECT * FROM _policeuk_rows")
        con.unregister("_policeuk_rows")
        con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE force_slug = ? AND file_month = ?", [file.force_slug, file.month])
        con.execute(
            f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [file.force_slug, file.month, file.name, sha, counts["rows"], counts["rows_without_location"], loaded_at, previous],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def loaded_forces(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``force_slug, force_name, first_month, last_month, n_months, rows`` of what is loaded."""
    return con.execute(
        f"""
        SELECT _force_slug AS force_slug, mode(falls_within) AS force_name,
               min(_file_month) AS first_month, max(_file_month) AS last_month,
               count(DISTINCT _file_month) AS n_months, count(*) AS rows
        FROM {STREET_TABLE} GROUP BY 1 ORDER BY 1
        """
    ).df()
