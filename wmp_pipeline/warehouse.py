"""Connections to the pipeline's working DuckDB file, with one writer at a time.

DuckDB allows a single writing process per database file. Dagster may start
more than one run (a schedule and a manual re-run), and dbt runs as a
subprocess, so every writer takes an exclusive advisory lock on
``<database>.lock`` first and waits for it (up to ``lock_timeout_s``) instead
of failing half way. Analysts never open this file: they read the published
copy (see :mod:`wmp_pipeline.publish`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class WarehouseLockTimeout(RuntimeError):
    pass


@contextmanager
def writer_lock(database_path: Path, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold the exclusive writer lock of ``database_path`` for the block."""
    database_path = Path(database_path)
    database_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = database_path.with_name(database_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseLockTimeout(
                        f"another pipeline process has held the writer lock {lock_path} "
                        f"for more than {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _secure(path: Path) -> None:
    """Database files hold personal data: readable by their owner only."""
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            os.chmod(p, 0o600)


@contextmanager
def connect(database_path: Path, read_only: bool = False, threads: int | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the working database; writers hold the writer lock while connected."""
    database_path = Path(database_path)
    config = {"threads": threads} if threads else {}
    if read_only:
        con = duckdb.connect(str(database_path), read_only=True, config=config)
        try:
            yield con
        finally:
            con.close()
        return
    old_umask = os.umask(0o077)
    try:
        with writer_lock(database_path):
            con = duckdb.connect(str(database_path), config=config)
            try:
                yield con
            finally:
                con.close()
                _secure(database_path)
    finally:
        os.umask(old_umask)


# --------------------------------------------------------------------------- tables
# Names come from :mod:`wmp_pipeline.tables`; ``[schema.]name``, bare names are in ``main``.


def split_name(name: str) -> tuple[str, str]:
    """``"raw.connect_drop_log"`` -> ``("raw", "connect_drop_log")``; bare names are in ``main``."""
    schema, _, table = name.rpartition(".")
    return (schema or "main"), table


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view ``[schema.]name`` exists in the connection's database."""
    schema, table = split_name(name)
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ? "
            "and table_catalog = current_database()",
            [schema, table],
        ).fetchall()[0][0]
    )


def table_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Column names of ``[schema.]name`` in order (empty when it does not exist)."""
    schema, table = split_name(name)
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "and table_catalog = current_database() order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


_FRAME_VIEW = "_wmp_frame"


def write_frame(con: duckdb.DuckDBPyConnection, name: str, frame) -> None:
    """Replace table ``name`` with ``frame`` (a pandas DataFrame or Arrow table)."""
    con.register(_FRAME_VIEW, frame)
    try:
        con.execute(f"create or replace table {name} as select * from {_FRAME_VIEW}").fetchall()
    finally:
        con.unregister(_FRAME_VIEW)


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    frame,
    where: str | None = None,
    params: list | None = None,
    create_when_empty: bool = True,
) -> None:
    """Delete the rows of ``name`` matching ``where`` (none when ``where`` is None) and append
    ``frame`` by column name, creating the table from ``frame`` on first use.

    ``create_when_empty=False``: an empty frame creates nothing (its column
    types may be unknown) but still clears the ``where`` rows.
    """
    exists = table_exists(con, name)
    if len(frame) == 0 and not create_when_empty:
        if where and exists:
            con.execute(f"delete from {name} where {where}", params or []).fetchall()
        return
    con.register(_FRAME_VIEW, frame)
    try:
        if not exists:
            con.execute(f"create table {name} as select * from {_FRAME_VIEW}").fetchall()
        else:
            if where:
                con.execute(f"delete from {name} where {where}", params or []).fetchall()
            con.execute(f"insert into {name} by name select * from {_FRAME_VIEW}").fetchall()
    finally:
        con.unregister(_FRAME_VIEW)
