"""Applying CONNECT drops to the raw tables, in order, each in one transaction.

Rules (from the contract):

- drops are applied in ``extract_date`` order; the first must be a full extract;
- re-delivering an applied drop (same manifest) changes nothing;
- a drop older than the newest applied one, a re-delivery with different
  content, a manifest whose checksums or row counts do not match, a missing
  file, or a file that cannot be read as a whole is **refused** with a reason
  that names the drop (and file); nothing already loaded changes, and the
  refusal is logged in ``raw.connect_drop_refusals``;
- every delivered row is either loaded into ``raw.connect_<table>`` with its
  lineage or kept in ``raw.connect_quarantine`` with its row number and
  reasons, so delivered = loaded + quarantined for every file.

A drop is applied inside a single DuckDB transaction: a run killed half way
leaves the database as it was before that drop, and the next run applies it
again from the start.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from wmp_pipeline.contract import TABLE_SPECS, TABLES
from wmp_pipeline.ingest.drops import Drop, DropRefused, find_drop_dirs, read_manifest, verify_files
from wmp_pipeline.ingest.readers import FileRefused, read_chunks
from wmp_pipeline.ingest.validate import raw_table_ddl, validation_sql
from wmp_pipeline.progress import Progress

RAW_SCHEMA = "raw"


def raw_table(table: str) -> str:
    return f"{RAW_SCHEMA}.connect_{table}"


@dataclass
class FileResult:
    table: str
    file_name: str
    rows_delivered: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    extra_columns: list[str] = field(default_factory=list)


@dataclass
class DropResult:
    drop_id: str
    status: str  # applied | already_applied | refused
    reason: str = ""
    extract_type: str = ""
    files: dict[str, FileResult] = field(default_factory=dict)

    @property
    def rows_delivered(self) -> int:
        return sum(f.rows_delivered for f in self.files.values())

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files.values())


@dataclass
class IngestReport:
    results: list[DropResult] = field(default_factory=list)

    @property
    def applied(self) -> list[DropResult]:
        return [r for r in self.results if r.status == "applied"]

    @property
    def refused(self) -> list[DropResult]:
        return [r for r in self.results if r.status == "refused"]

    def summary(self) -> str:
        lines = []
        for r in self.results:
            if r.status == "applied":
                lines.append(
                    f"{r.drop_id} ({r.extract_type}): applied, {r.rows_delivered:,} rows delivered, "
                    f"{r.rows_loaded:,} loaded, {r.rows_quarantined:,} quarantined"
                )
            elif r.status == "refused":
                lines.append(f"{r.drop_id}: REFUSED: {r.reason}")
            else:
                lines.append(f"{r.drop_id}: already applied, unchanged")
        return "\n".join(lines) or "no drops found"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for table in TABLES:
        con.execute(raw_table_ddl(TABLE_SPECS[table], raw_table(table)))
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.connect_quarantine (
            drop_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, file_name VARCHAR NOT NULL,
            row_number BIGINT NOT NULL, record_key VARCHAR, reason VARCHAR NOT NULL, raw_record VARCHAR,
            quarantined_at TIMESTAMP NOT NULL, resolved_by_drop_id VARCHAR)"""
    )
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.connect_drop_log (
            drop_id VARCHAR PRIMARY KEY, extract_date DATE NOT NULL, extract_type VARCHAR NOT NULL,
            covers_from DATE, applied_at TIMESTAMP NOT NULL, manifest_sha256 VARCHAR NOT NULL, files VARCHAR NOT NULL,
            rows_delivered BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL)"""
    )
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.connect_drop_refusals (
            drop_id VARCHAR NOT NULL, refused_at TIMESTAMP NOT NULL, reason VARCHAR NOT NULL)"""
    )


def applied_drops(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[date, str]]:
    rows = con.execute(f"select drop_id, extract_date, manifest_sha256 from {RAW_SCHEMA}.connect_drop_log").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _load_file(con: duckdb.DuckDBPyConnection, drop: Drop, table: str, now: datetime) -> FileResult:
    f = drop.files[table]
    spec = TABLE_SPECS[table]
    result = FileResult(table=table, file_name=f.name)
    try:
        header, chunks = read_chunks(f.path, f.fmt, spec, f.name)
        result.extra_columns = header.extra_columns
        incoming = f"_incoming_{table}"
        con.execute(f"drop table if exists {incoming}")
        bad_rows: list[tuple[int, str, str, str | None]] = []
        first = True
        for chunk in chunks:
            con.register("_chunk", chunk.good)
            if first:
                con.execute(f"create temp table {incoming} as select * from _chunk")
                first = False
            else:
                con.execute(f"insert into {incoming} select * from _chunk")
            con.unregister("_chunk")
            bad_rows.extend(chunk.bad)
    except FileRefused as e:
        raise DropRefused(drop.drop_id, str(e)) from None

    n_good = con.execute(f"select count(*) from {incoming}").fetchone()[0]
    result.rows_delivered = n_good + len(bad_rows)
    if result.rows_delivered != f.manifest_rows:
        raise DropRefused(
            drop.drop_id,
            f"file {f.name} has {result.rows_delivered:,} data rows but the manifest says {f.manifest_rows:,}",
        )

    checked = f"_checked_{table}"
    con.execute(f"create or replace temp table {checked} as {validation_sql(spec, incoming)}")
    cols = ", ".join(f'"{c}"' for c in spec.column_names)
    params = [drop.drop_id, drop.extract_date, drop.extract_type, f.name, now]
    result.rows_loaded = con.execute(
        f"""insert into {raw_table(table)}
            select {cols}, ?, ?, ?, ?, _row_number, ? from {checked} where _problems is null""",
        params,
    ).fetchone()[0]
    con.execute(
        f"""insert into {RAW_SCHEMA}.connect_quarantine
            select ?, ?, ?, _row_number, _record_key, _problems, _raw_record, ?, null
            from {checked} where _problems is not null""",
        [drop.drop_id, table, f.name, now],
    )
    if bad_rows:
        con.executemany(
            f"insert into {RAW_SCHEMA}.connect_quarantine values (?, ?, ?, ?, ?, ?, ?, ?, null)",
            [[drop.drop_id, table, f.name, n, key, f"row {reason}", raw, now] for n, reason, raw, key in bad_rows],
        )
    result.rows_quarantined = result.rows_delivered - result.rows_loaded
    # A valid row for a key that an earlier drop quarantined corrects it.
    con.execute(
        f"""update {RAW_SCHEMA}.connect_quarantine q set resolved_by_drop_id = ?
            where q.table_name = ? and q.resolved_by_drop_id is null and q.drop_id < ?
              and q.record_key in (select _record_key from {checked} where _problems is null)""",
        [drop.drop_id, table, drop.drop_id],
    )
    con.execute(f"drop table if exists {incoming}")
    con.execute(f"drop table if exists {checked}")
    return result


def apply_drop(con: duckdb.DuckDBPyConnection, drop: Drop, log=None) -> DropResult:
    """Verify and load one drop atomically. Raises DropRefused (after rollback) if it breaks the contract."""
    verify_files(drop)
    now = datetime.now().replace(microsecond=0)
    result = DropResult(drop_id=drop.drop_id, status="applied", extract_type=drop.extract_type)
    con.execute("begin transaction")
    try:
        for table in TABLES:
            result.files[table] = _load_file(con, drop, table, now)
            if log:
                fr = result.files[table]
                log.info(
                    f"drop {drop.drop_id} {fr.file_name}: {fr.rows_delivered:,} delivered, "
                    f"{fr.rows_loaded:,} loaded, {fr.rows_quarantined:,} quarantined"
                    + (f"; extra column(s) ignored: {', '.join(fr.extra_columns)}" if fr.extra_columns else "")
                )
        con.execute(
            f"insert into {RAW_SCHEMA}.connect_drop_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                drop.drop_id,
                drop.extract_date,
                drop.extract_type,
                drop.covers_from,
                now,
                drop.manifest_sha256,
                json.dumps({t: asdict(fr) for t, fr in result.files.items()}),
                result.rows_delivered,
                result.rows_loaded,
                result.rows_quarantined,
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def _record_refusal(con: duckdb.DuckDBPyConnection, drop_id: str, reason: str) -> None:
    con.execute(f"insert into {RAW_SCHEMA}.connect_drop_refusals values (?, ?, ?)", [drop_id, datetime.now(), reason])


def ingest_landing(con: duckdb.DuckDBPyConnection, connect_dir: Path, up_to: date | None = None, log=None) -> IngestReport:
    """Apply every new drop under ``connect_dir`` (optionally only those dated on or before ``up_to``).

    Stale drops and changed re-deliveries are refused and skipped; a drop that
    fails verification or reading stops the ingest (later drops would be
    applied out of order) after being refused.
    """
    ensure_schema(con)
    report = IngestReport()
    done = applied_drops(con)
    newest = max((d for d, _ in done.values()), default=None)
    drop_dirs = [d for d in find_drop_dirs(connect_dir) if up_to is None or date.fromisoformat(d.name) <= up_to]
    progress = Progress("loading CONNECT drops", total=len(drop_dirs), log=log)
    try:
        _apply_in_order(con, drop_dirs, done, newest, report, progress, log)
    finally:
        progress.close()
    return report


def _apply_in_order(con, drop_dirs, done, newest, report: IngestReport, progress: Progress, log) -> None:
    for drop_dir in drop_dirs:
        drop_id = drop_dir.name
        progress.update(1, note=drop_id)
        try:
            drop = read_manifest(drop_dir)
            if drop_id in done:
                if done[drop_id][1] == drop.manifest_sha256:
                    report.results.append(DropResult(drop_id, "already_applied", extract_type=drop.extract_type))
                    continue
                raise DropRefused(drop_id, "was already applied, and this re-delivery has a different manifest")
            if newest is not None and drop.extract_date < newest:
                raise DropRefused(drop_id, f"is older than the newest applied drop {newest.isoformat()}")
            if newest is None and drop.extract_type != "full":
                raise DropRefused(drop_id, "is a delta, but no full extract has been applied yet")
            result = apply_drop(con, drop, log=log)
            report.results.append(result)
            newest = drop.extract_date
            done[drop_id] = (drop.extract_date, drop.manifest_sha256)
        except DropRefused as e:
            _record_refusal(con, e.drop_id, e.reason)
            report.results.append(DropResult(e.drop_id, "refused", reason=e.reason))
            if log:
                log.error(str(e))
            stale = "older than the newest applied" in e.reason or "already applied" in e.reason
            if not stale:
                break
