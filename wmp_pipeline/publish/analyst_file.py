"""Publishing the analyst tables to a separate DuckDB file, replaced atomically.

Analysts and dashboards never open the pipeline's working database (one
writer, locked while the pipeline runs). They open the *analyst file*
(``settings.analyst_db_path``) read-only. At the end of each run the pipeline:

1. picks the analyst tables: :data:`ANALYST_TABLES` plus every table or view
   matching :data:`ANALYST_TABLE_PATTERNS` (dbt marts ``mart_*``); a listed
   table that does not exist yet is skipped with a note;
2. refuses, before writing anything, any table with a column that identifies
   a person (:func:`wmp_pipeline.privacy.scrub.is_identifying_column`:
   ``person_id``, ``date_of_birth``, ...) or that is on :data:`NEVER_PUBLISH`;
3. copies them into a **new** DuckDB file next to the analyst file (created
   owner-only while it is written), with table and column comments, plus a
   ``publish_manifest`` table (table, rows, published_at, source run);
4. refuses if any text value in the new file equals a raw CONNECT
   ``person_id`` (a pseudonym that was forgotten, an id in a free-text column);
5. checkpoints and closes it, makes it **read-only** (mode 0440, see
   :mod:`wmp_pipeline.privacy.file_permissions`), ``fsync``s it, and
   ``os.replace``s it over the analyst file.

Read-only at the file-system level: opening the analyst file for writing
(``duckdb.connect(path)``, ``read_only=False``, ``ATTACH`` without
``READ_ONLY``) fails with a permission error for every account but root.
Renaming the next week's file over it needs write access to the folder only.

``os.replace`` is atomic on POSIX: a reader that opens the path gets either
the old complete file or the new complete file, never a half-written one. A
reader that already has the old file open keeps reading its snapshot (the old
inode lives until it closes), and the writer never waits for readers: it
writes a different file and swaps a name.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from wmp_pipeline import tables
from wmp_pipeline.privacy.file_permissions import make_read_only, owner_only_umask
from wmp_pipeline.privacy.scrub import is_identifying_column
from wmp_pipeline.quality.summary import QUALITY_TABLES

_LOG = logging.getLogger("wmp_pipeline.publish")

#: Analyst-facing tables of the working database (schema ``main``), by name.
ANALYST_TABLES: tuple[str, ...] = (
    tables.HOTSPOT_CELLS,
    tables.HOTSPOT_PREDICTIONS,
    tables.HOTSPOT_BACKTEST_METRICS,
    tables.POLICEUK_BACKTEST_METRICS,
    tables.IOM_RISK_SCORES,
    tables.IOM_MODEL_METRICS,
    tables.IOM_FAIRNESS_AUDIT,
    *QUALITY_TABLES,
    tables.MART_UNKNOWN_OFFENCE_CODES,
)
#: Name patterns (``fnmatch``) of further analyst tables: the dbt marts.
ANALYST_TABLE_PATTERNS: tuple[str, ...] = ("mart_*",)
#: Tables that must never leave the working database, whatever a list or pattern says.
NEVER_PUBLISH: frozenset[str] = frozenset({tables.RESTRICTED_PERSON_KEYS, tables.IOM_OFFENDER_WEEK})
MANIFEST_TABLE = tables.PUBLISH_MANIFEST
#: On-disk format of the analyst file: readable by DuckDB 1.0 and later (CLI, ODBC
#: drivers inside dashboard tools), not only by the pipeline's own DuckDB.
ANALYST_STORAGE_VERSION = "v1.0.0"


class PublicationRefused(RuntimeError):
    """A table cannot be published (it would expose person identifiers)."""


@dataclass(frozen=True)
class PublishedTable:
    name: str
    rows: int
    columns: int


@dataclass(frozen=True)
class PublishResult:
    path: Path
    tables: tuple[PublishedTable, ...]
    skipped: tuple[str, ...]
    published_at: datetime
    source_run: str
    size_bytes: int
    elapsed_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def available_relations(con: duckdb.DuckDBPyConnection, schema: str = "main") -> dict[str, str]:
    """Tables and views of ``schema`` in the connection's default database: name -> comment."""
    rows = con.execute(
        """select table_name, comment from duckdb_tables()
           where database_name = current_database() and schema_name = ? and not temporary
           union all
           select view_name, comment from duckdb_views()
           where database_name = current_database() and schema_name = ? and not internal and not temporary""",
        [schema, schema],
    ).fetchall()
    return {name: comment for name, comment in rows}


def select_analyst_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[str] = ANALYST_TABLES,
    patterns: Sequence[str] = ANALYST_TABLE_PATTERNS,
    schema: str = "main",
) -> tuple[list[str], list[str]]:
    """(tables to publish, listed tables that do not exist yet), in a stable order."""
    present = available_relations(con, schema)
    chosen = [t for t in tables if t in present]
    missing = [t for t in tables if t not in present]
    for name in sorted(present):
        if name not in chosen and any(fnmatch.fnmatchcase(name, p) for p in patterns):
            chosen.append(name)
    return chosen, missing


def relation_columns(con: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> list[tuple[str, str, str | None]]:
    """(column name, data type, comment) of a table or view of the default database."""
    return con.execute(
        """select column_name, data_type, comment from duckdb_columns()
           where database_name = current_database() and schema_name = ? and table_name = ?
           order by column_index""",
        [schema, table],
    ).fetchall()


def check_publishable(con: duckdb.DuckDBPyConnection, tables: Sequence[str], schema: str = "main") -> None:
    """Raise :class:`PublicationRefused` naming the first table and identifying column found."""
    for table in tables:
        if table in NEVER_PUBLISH:
            raise PublicationRefused(f"table {table} is never published: it holds person-level identifiers")
        for column, _, _ in relation_columns(con, table, schema):
            if is_identifying_column(column):
                raise PublicationRefused(
                    f"refusing to publish table {table}: column {column} identifies a person "
                    "(publish a pseudonymised offender_key instead, and drop the identifier)"
                )


def find_person_id_values(con: duckdb.DuckDBPyConnection, database: str, tables: Sequence[str]) -> list[tuple[str, str, int]]:
    """(table, column, matches) for every text column of ``database`` holding a raw CONNECT person_id.

    Reads ``raw.connect_persons.person_id`` from the connection's default
    database; with no raw persons table there is nothing to compare.
    """
    has_persons = con.execute(
        """select count(*) from duckdb_tables() where database_name = current_database()
           and schema_name = 'raw' and table_name = 'connect_persons'"""
    ).fetchone()[0]
    if not has_persons:
        return []
    found = []
    for table in tables:
        text_columns = con.execute(
            """select column_name from duckdb_columns() where database_name = ? and schema_name = 'main'
               and table_name = ? and data_type = 'VARCHAR'""",
            [database, table],
        ).fetchall()
        for (column,) in text_columns:
            n = con.execute(
                f"""select count(*) from {_q(database)}.main.{_q(table)} t
                    where t.{_q(column)} in (select person_id from raw.connect_persons where person_id is not null)"""
            ).fetchone()[0]
            if n:
                found.append((table, column, n))
    return found


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def publish_analyst_file(
    con: duckdb.DuckDBPyConnection,
    analyst_path: Path,
    *,
    source_run: str,
    tables: Sequence[str] = ANALYST_TABLES,
    patterns: Sequence[str] = ANALYST_TABLE_PATTERNS,
    schema: str = "main",
    check_person_ids: bool = True,
    storage_version: str = ANALYST_STORAGE_VERSION,
    log: logging.Logger | None = None,
    before_replace: Callable[[Path], None] | None = None,
) -> PublishResult:
    """Copy the analyst tables from ``con``'s database into a new file and swap it in atomically.

    ``con`` is a connection to the working database (it must be able to
    ``ATTACH`` a new file). ``before_replace`` is called with the staged file's
    path once it is complete and closed, just before the swap (tests use it to
    hold a publication half way).
    """
    log = log or _LOG
    start = time.monotonic()
    analyst_path = Path(analyst_path)
    analyst_path.parent.mkdir(parents=True, exist_ok=True)
    chosen, missing = select_analyst_tables(con, tables, patterns, schema)
    notes = []
    for name in missing:
        note = f"analyst table {name} does not exist yet: skipped"
        notes.append(note)
        log.info(note)
    check_publishable(con, chosen, schema)

    staged = analyst_path.with_name(f".{analyst_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    alias = f"wmp_publish_{uuid.uuid4().hex[:8]}"
    published_at = datetime.now().replace(microsecond=0)
    published: list[PublishedTable] = []
    attached = False
    try:
        with owner_only_umask():
            con.execute(f"attach {_lit(str(staged))} as {alias} (storage_version {_lit(storage_version)})")
            attached = True
            comments = available_relations(con, schema)
            for name in chosen:
                columns = relation_columns(con, name, schema)
                con.execute(f"create table {alias}.main.{_q(name)} as select * from {schema}.{_q(name)}")
                if comments.get(name):
                    con.execute(f"comment on table {alias}.main.{_q(name)} is {_lit(comments[name])}")
                for column, _, comment in columns:
                    if comment:
                        con.execute(f"comment on column {alias}.main.{_q(name)}.{_q(column)} is {_lit(comment)}")
                rows = con.execute(f"select count(*) from {alias}.main.{_q(name)}").fetchone()[0]
                published.append(PublishedTable(name, rows, len(columns)))
            if check_person_ids:
                leaks = find_person_id_values(con, alias, chosen)
                if leaks:
                    table, column, n = leaks[0]
                    raise PublicationRefused(
                        f"refusing to publish table {table}: column {column} holds {n:,} raw CONNECT person id value(s)"
                    )
            con.execute(
                f"""create table {alias}.main.{MANIFEST_TABLE} (
                    table_name VARCHAR, row_count BIGINT, column_count INTEGER,
                    published_at TIMESTAMP, source_run VARCHAR)"""
            )
            if published:
                con.executemany(
                    f"insert into {alias}.main.{MANIFEST_TABLE} values (?, ?, ?, ?, ?)",
                    [[t.name, t.rows, t.columns, published_at, source_run] for t in published],
                )
            con.execute(
                f"comment on table {alias}.main.{MANIFEST_TABLE} is "
                + _lit("What this analyst file holds: one row per published table, when and by which pipeline run.")
            )
            con.execute(f"checkpoint {alias}")
            con.execute(f"detach {alias}")
            attached = False
        make_read_only(staged)
        _fsync(staged)
        if before_replace is not None:
            before_replace(staged)
        # A WAL beside the analyst file belongs to the *old* file; DuckDB would replay it onto the new one.
        _remove_quietly(analyst_path.with_name(analyst_path.name + ".wal"))
        os.replace(staged, analyst_path)
        _fsync(analyst_path.parent)
    except BaseException:
        if attached:
            try:
                con.execute(f"detach {alias}")
            except duckdb.Error:
                pass
        _remove_quietly(staged, staged.with_name(staged.name + ".wal"))
        raise
    result = PublishResult(
        path=analyst_path,
        tables=tuple(published),
        skipped=tuple(missing),
        published_at=published_at,
        source_run=source_run,
        size_bytes=analyst_path.stat().st_size,
        elapsed_s=round(time.monotonic() - start, 3),
        notes=tuple(notes),
    )
    log.info(
        f"published {len(published)} table(s) to {analyst_path.name} "
        f"({result.size_bytes / 1e6:.1f} MB, {result.elapsed_s:.1f}s); skipped {len(missing)}"
    )
    return result
