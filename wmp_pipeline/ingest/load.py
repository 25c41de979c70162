"""Applying CONNECT drops to the raw tables, each in one transaction, in any arrival order.

Rules (from the contract, and docs/data_quality.md "Refusals"):

- every drop folder in ``<landing>/connect`` is looked at on every run, oldest
  extract date first. A folder whose name is not a real ``YYYY-MM-DD`` date,
  or whose date is after today plus ``IngestConfig.future_tolerance_days``, is
  **refused by name**; a folder with files but no manifest yet (still being
  written) or an empty folder is **skipped** with a note. Neither stops the
  other drops;
- arrival order does not matter: a late drop (older than drops already
  applied) is applied like any other. The state of each record is its newest
  version by its own ``last_modified`` (``dbt_project/macros/current_state.sql``),
  so the same drops give the same state whatever order they arrived in;
- re-delivering an applied drop (same manifest) changes nothing; a re-delivery
  with different content, a manifest whose checksums or row counts do not match
  its files, a missing file, a file that is a symlink leading outside the
  landing folder, or a file that cannot be read as a whole is **refused** with a
  reason naming the drop (and file);
- a **full** drop replaces the state, so it is validated *before* it is
  committed: its volume must be plausible against the current state (per table
  at least ``IngestConfig.full_drop_min_volume_percent`` of the current records;
  an empty full drop is always refused) and, when a validator is given, its
  Great Expectations suites must pass their blocking expectations. A full drop
  that fails is rolled back (nothing changes), stays in the landing folder and
  is refused until an operator accepts it by name (``wmp drops accept``);
- every refusal is recorded in ``raw.connect_drop_refusals`` (once per drop,
  manifest and reason) and reported; it does not stop the other drops, and a
  refused drop is retried on the next run (except a full drop refused by
  validation, which waits for an operator);
- every delivered row is either loaded into ``raw.connect_<table>`` with its
  lineage or kept in ``raw.connect_quarantine`` with its row number and
  reasons, so delivered = loaded + quarantined for every file.

A drop is applied inside a single DuckDB transaction: a run killed half way
leaves the database as it was before that drop, and the next run applies it
again from the start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from wmp_pipeline import tables
from wmp_pipeline.contract import TABLE_SPECS, TABLES
from wmp_pipeline.ingest.config import IngestConfig
from wmp_pipeline.ingest.drops import Drop, DropRefused, read_manifest, scan_landing, verify_files
from wmp_pipeline.ingest.readers import FileRefused, read_chunks
from wmp_pipeline.ingest.validate import raw_table_ddl, validation_sql
from wmp_pipeline.progress import Progress

RAW_SCHEMA = "raw"
REFUSALS_TABLE = tables.CONNECT_DROP_REFUSALS
ACCEPTANCES_TABLE = tables.CONNECT_DROP_ACCEPTANCES
EXPECTATIONS_TABLE = tables.CONNECT_DROP_EXPECTATIONS
INGEST_RUNS_TABLE = tables.CONNECT_INGEST_RUNS

#: Kinds of refusal. ``validation`` (a full drop's volume or blocking expectations) waits for an
#: operator; the others are re-examined on every run.
REFUSAL_KINDS = ("name", "future", "contract", "state", "validation")

#: Validates the rows of one drop, loaded but not committed: returns per-table results, each
#: with ``failures("blocking")`` (see wmp_pipeline.quality.gx.runner.SuiteResult).
DropValidator = Callable[[duckdb.DuckDBPyConnection, Drop], dict[str, Any]]
#: Stores a drop's validation results (same connection, inside the drop's transaction).
ResultStore = Callable[[duckdb.DuckDBPyConnection, str, Drop, dict[str, Any]], None]


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
    #: refusal kind (one of REFUSAL_KINDS) when refused
    kind: str = ""
    #: per-table validation results (SuiteResult) when a validator ran
    validation: dict[str, Any] = field(default_factory=dict)
    #: set when an operator's acceptance let a full drop through its validation
    accepted: str = ""

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
    ingest_id: str = ""
    results: list[DropResult] = field(default_factory=list)
    #: (folder name, note) for folders skipped this run (still being written, empty, stray files)
    skipped: list[tuple[str, str]] = field(default_factory=list)

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
                    + (f" (accepted by operator: {r.accepted})" if r.accepted else "")
                )
            elif r.status == "refused":
                lines.append(f"{r.drop_id}: REFUSED: {r.reason}")
            else:
                lines.append(f"{r.drop_id}: already applied, unchanged")
        lines += [f"{name}: skipped: {note}" for name, note in self.skipped]
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
        f"""create table if not exists {REFUSALS_TABLE} (
            drop_id VARCHAR NOT NULL, refused_at TIMESTAMP NOT NULL, reason VARCHAR NOT NULL)"""
    )
    # added after version 1 of the table: which manifest was refused, and what kind of refusal
    con.execute(f"alter table {REFUSALS_TABLE} add column if not exists manifest_sha256 VARCHAR")
    con.execute(f"alter table {REFUSALS_TABLE} add column if not exists kind VARCHAR")
    con.execute(
        f"""create table if not exists {ACCEPTANCES_TABLE} (
            drop_id VARCHAR NOT NULL, manifest_sha256 VARCHAR NOT NULL, accepted_at TIMESTAMP NOT NULL,
            accepted_by VARCHAR, reason VARCHAR NOT NULL)"""
    )
    con.execute(
        f"""create table if not exists {EXPECTATIONS_TABLE} (
            drop_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, ingest_id VARCHAR,
            checked_at TIMESTAMP NOT NULL, success BOOLEAN NOT NULL, blocking_passed BOOLEAN NOT NULL,
            result_json VARCHAR NOT NULL)"""
    )
    con.execute(
        f"""create table if not exists {INGEST_RUNS_TABLE} (
            ingest_id VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, drops_applied VARCHAR NOT NULL,
            drops_refused VARCHAR NOT NULL, skipped VARCHAR NOT NULL)"""
    )


def applied_drops(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[date, str]]:
    rows = con.execute(f"select drop_id, extract_date, manifest_sha256 from {RAW_SCHEMA}.connect_drop_log").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def acceptances(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(drop_id, manifest sha256) -> the operator's reason, for every accepted drop."""
    rows = con.execute(f"select drop_id, manifest_sha256, reason from {ACCEPTANCES_TABLE} order by accepted_at").fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def standing_refusal(con: duckdb.DuckDBPyConnection, drop_id: str, manifest_sha256: str | None) -> tuple[str, str] | None:
    """The newest (kind, reason) recorded for this drop and manifest, if any."""
    rows = con.execute(
        f"""select kind, reason from {REFUSALS_TABLE}
            where drop_id = ? and manifest_sha256 is not distinct from ?
            order by refused_at desc limit 1""",
        [drop_id, manifest_sha256],
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def current_state_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Records per table in the current state, by the rule of ``dbt_project/macros/current_state.sql``.

    The state is built from the latest full extract (by extract date) and every
    drop dated after it; each record's newest version by ``last_modified``
    (then extract date, then row number) counts unless it says ``deleted``.
    """
    out = {}
    for table in TABLES:
        key = TABLE_SPECS[table].key
        out[table] = con.execute(
            f"""with latest_full as (
                    select max(extract_date) as d from {RAW_SCHEMA}.connect_drop_log where extract_type = 'full'
                ),
                newest as (
                    select record_status from {raw_table(table)}
                    where _extract_date >= (select d from latest_full)
                    qualify row_number() over (
                        partition by "{key}" order by last_modified desc, _extract_date desc, _row_number desc) = 1
                )
                select count(*) from newest where record_status <> 'deleted'"""
        ).fetchone()[0]
    return out


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
    # A valid row for a key that an earlier-dated drop quarantined corrects it: the quarantined row is
    # resolved by the first later-dated drop with a valid row, whatever order the drops arrived in.
    con.execute(
        f"""update {RAW_SCHEMA}.connect_quarantine q set resolved_by_drop_id = ?
            where q.table_name = ? and q.drop_id < ? and (q.resolved_by_drop_id is null or q.resolved_by_drop_id > ?)
              and q.record_key in (select _record_key from {checked} where _problems is null)""",
        [drop.drop_id, table, drop.drop_id, drop.drop_id],
    )
    # ... and this drop's own quarantined rows may already be corrected by a later-dated drop that arrived first.
    con.execute(
        f"""update {RAW_SCHEMA}.connect_quarantine q set resolved_by_drop_id = (
                select min(r._drop_id) from {raw_table(table)} r where r."{spec.key}" = q.record_key and r._drop_id > q.drop_id)
            where q.table_name = ? and q.drop_id = ? and q.resolved_by_drop_id is null
              and exists (select 1 from {raw_table(table)} r where r."{spec.key}" = q.record_key and r._drop_id > q.drop_id)""",
        [table, drop.drop_id],
    )
    con.execute(f"drop table if exists {incoming}")
    con.execute(f"drop table if exists {checked}")
    return result


def volume_problems(delivered: int, loaded: dict[str, int], current: dict[str, int], min_percent: int) -> list[str]:
    """Why a full drop's volume is implausible against the current state (empty list: plausible).

    An empty full drop (no row delivered in any file) is always implausible; a
    table whose loaded rows are below ``min_percent`` % of its current records is.
    """
    if not delivered:
        return ["it is empty: no row delivered in any file (a full extract replaces the whole state)"]
    problems = []
    for table in TABLES:
        have, got = current.get(table, 0), loaded.get(table, 0)
        if have and got * 100 < have * min_percent:
            problems.append(
                f"{table}: {got:,} rows loaded, {100 * got / have:.0f}% of the {have:,} records in the current state "
                f"(a full drop needs at least {min_percent}%)"
            )
    return problems


def apply_drop(
    con: duckdb.DuckDBPyConnection,
    drop: Drop,
    *,
    config: IngestConfig | None = None,
    validator: DropValidator | None = None,
    store: ResultStore | None = None,
    ingest_id: str = "",
    accepted_reason: str = "",
    landing_root: Path | None = None,
    log=None,
) -> DropResult:
    """Verify, load and validate one drop atomically.

    Raises DropRefused (after rollback) if it breaks the contract, or, for a
    full drop not accepted by an operator, if its volume is implausible or a
    blocking expectation fails (``kind == "validation"``).
    """
    config = config or IngestConfig()
    verify_files(drop, landing_root)
    now = datetime.now().replace(microsecond=0)
    result = DropResult(drop_id=drop.drop_id, status="applied", extract_type=drop.extract_type, accepted=accepted_reason)
    current = current_state_counts(con) if drop.extract_type == "full" else {}
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
        if validator is not None:
            result.validation = validator(con, drop)
        if drop.extract_type == "full":
            problems = volume_problems(
                result.rows_delivered,
                {t: fr.rows_loaded for t, fr in result.files.items()}, current, config.full_drop_min_volume_percent
            )
            problems += [
                f"{t}: blocking expectation(s) failed: {', '.join(o.label for o in r.failures('blocking'))}"
                for t, r in result.validation.items()
                if r.failures("blocking")
            ]
            if problems and not accepted_reason:
                raise DropRefused(
                    drop.drop_id,
                    "full drop not applied, the state is unchanged: " + "; ".join(problems)
                    + f". If it is right, accept it: wmp drops accept {drop.drop_id} --reason \"...\"",
                    kind="validation",
                )
        if store is not None and result.validation:
            store(con, ingest_id, drop, result.validation)
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


def _record_refusal(con: duckdb.DuckDBPyConnection, drop_id: str, reason: str, kind: str, manifest_sha256: str | None) -> None:
    """Log a refusal once: the same drop, manifest and reason is not logged again on later runs."""
    already = con.execute(
        f"select count(*) from {REFUSALS_TABLE} where drop_id = ? and reason = ? and manifest_sha256 is not distinct from ?",
        [drop_id, reason, manifest_sha256],
    ).fetchone()[0]
    if not already:
        con.execute(
            f"insert into {REFUSALS_TABLE} (drop_id, refused_at, reason, manifest_sha256, kind) values (?, ?, ?, ?, ?)",
            [drop_id, datetime.now(), reason, manifest_sha256, kind],
        )


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    connect_dir: Path,
    up_to: date | None = None,
    log=None,
    *,
    config: IngestConfig | None = None,
    validator: DropValidator | None = None,
    store: ResultStore | None = None,
    today: date | None = None,
) -> IngestReport:
    """Apply every new drop under ``connect_dir`` (optionally only those dated on or before ``up_to``).

    Drops are taken oldest extract date first; a refusal is recorded and
    reported and the other drops go on (see the module docstring).
    """
    config = config or IngestConfig()
    today = today or date.today()
    ensure_schema(con)
    report = IngestReport(ingest_id=uuid.uuid4().hex)
    started = datetime.now().replace(microsecond=0)
    scan = scan_landing(connect_dir, today, config.future_tolerance_days)
    report.skipped = list(scan.skipped)
    for name, note in scan.skipped:
        if log:
            log.warning(f"CONNECT drop folder {name} skipped: {name} {note}; it is applied once complete")
    for name, reason in scan.refused:
        kind = "future" if "future-dated" in reason else "name"
        _refuse(con, report, DropRefused(name, reason, kind), None, log)
    drop_dirs = [d for d in scan.ready if up_to is None or date.fromisoformat(d.name) <= up_to]
    progress = Progress("loading CONNECT drops", total=len(drop_dirs), log=log)
    try:
        for drop_dir in drop_dirs:
            progress.update(1, note=drop_dir.name)
            _ingest_one(con, drop_dir, connect_dir, config, validator, store, report, log)
    finally:
        progress.close()
    con.execute(
        f"insert into {INGEST_RUNS_TABLE} values (?, ?, ?, ?, ?)",
        [
            report.ingest_id,
            started,
            json.dumps([r.drop_id for r in report.applied]),
            json.dumps({r.drop_id: r.reason for r in report.refused}),
            json.dumps(dict(report.skipped)),
        ],
    )
    return report


def _refuse(con, report: IngestReport, e: DropRefused, manifest_sha256: str | None, log) -> None:
    _record_refusal(con, e.drop_id, e.reason, e.kind, manifest_sha256)
    report.results.append(DropResult(e.drop_id, "refused", reason=e.reason, kind=e.kind))
    if log:
        log.error(str(e))


def _ingest_one(con, drop_dir: Path, connect_dir: Path, config, validator, store, report: IngestReport, log) -> None:
    drop_id = drop_dir.name
    sha = None
    try:
        drop = read_manifest(drop_dir)
        sha = drop.manifest_sha256
        done = applied_drops(con)
        if drop_id in done:
            if done[drop_id][1] == sha:
                report.results.append(DropResult(drop_id, "already_applied", extract_type=drop.extract_type))
                return
            raise DropRefused(drop_id, "was already applied, and this re-delivery has a different manifest")
        accepted = acceptances(con).get((drop_id, sha), "")
        standing = standing_refusal(con, drop_id, sha)
        if standing and standing[0] == "validation" and not accepted:
            # an operator decides; re-validating the same files would give the same answer
            report.results.append(DropResult(drop_id, "refused", reason=standing[1], kind="validation", extract_type=drop.extract_type))
            if log:
                log.error(f"CONNECT drop {drop_id} stays refused: {standing[1]}")
            return
        fulls = con.execute(f"select count(*) from {RAW_SCHEMA}.connect_drop_log where extract_type = 'full'").fetchone()[0]
        if not fulls and drop.extract_type != "full":
            raise DropRefused(drop_id, "is a delta, but no full extract has been applied yet (it is retried on every run)", "state")
        result = apply_drop(
            con, drop, config=config, validator=validator, store=store, ingest_id=report.ingest_id,
            accepted_reason=accepted, landing_root=connect_dir.parent, log=log,
        )
        report.results.append(result)
    except DropRefused as e:
        _refuse(con, report, e, sha, log)


def drop_sequence_gaps(con: duckdb.DuckDBPyConnection, interval_days: int = 7) -> list[dict]:
    """Missing drops between consecutive applied drops (by extract date).

    A gap of ``n`` intervals (rounded) between two applied drops means ``n - 1``
    drops are missing; each is listed with the date it was expected.
    """
    dates = [r[0] for r in con.execute(f"select distinct extract_date from {RAW_SCHEMA}.connect_drop_log order by 1").fetchall()]
    gaps = []
    for prev, nxt in zip(dates, dates[1:]):
        days = (nxt - prev).days
        missing = round(days / interval_days) - 1
        if missing >= 1:
            expected = [prev + timedelta(days=interval_days * k) for k in range(1, missing + 1)]
            gaps.append(
                {
                    "previous_drop": prev,
                    "next_drop": nxt,
                    "gap_days": days,
                    "missing_drops": missing,
                    "expected_dates": ", ".join(d.isoformat() for d in expected),
                }
            )
    return gaps


def latest_refusals(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Drops the latest ingest run refused (drop id -> reason): the refusals that stand now."""
    ensure_schema(con)
    rows = con.execute(f"select drops_refused from {INGEST_RUNS_TABLE} order by started_at desc limit 1").fetchall()
    return json.loads(rows[0][0]) if rows else {}
