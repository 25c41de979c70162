"""One run per data folder, and one writer at a time on the working DuckDB file.

Two locks, both advisory ``flock`` locks that the kernel releases when their
process ends, however it ends (``kill -9`` included), so a lock is never left
behind by a dead run:

- the **run lock** (:func:`run_lock`, file ``<data folder>/run.lock``) is held
  for a whole weekly run. A second run on the same data folder fails at once
  with :class:`RunLockHeld`, whose message names the holder (process id,
  host, start time, command), unless it was asked to wait
  (``wmp run --wait``). Runs on different data folders never meet: each has
  its own database, dbt target folder, Dagster history and artifacts.
- the **writer lock** (:func:`writer_lock`, file ``<database>.lock``) is held
  while a connection writes the working database (a Python asset, the dbt
  subprocess). DuckDB allows a single writing process per file; a writer waits
  for it (up to ``timeout_s``) instead of failing half way.

Analysts never open the working file: they read the published copy (see
:mod:`wmp_pipeline.publish`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

#: The run lock's file name inside the data folder.
RUN_LOCK_NAME = "run.lock"


class WarehouseLockTimeout(RuntimeError):
    pass


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run lock: written into the lock file by the holder, read by whoever is refused."""

    pid: int
    host: str
    started_at: str
    command: str
    run_id: str = ""

    def describe(self) -> str:
        run = f", Dagster run {self.run_id}" if self.run_id else ""
        return f"process {self.pid} on {self.host}, started {self.started_at}{run}: {self.command}"


class RunLockHeld(RuntimeError):
    """Another run holds the data folder's run lock."""

    def __init__(self, lock_path: Path, holder: LockHolder | None, waited_s: float | None = None):
        self.lock_path = Path(lock_path)
        self.holder = holder
        who = holder.describe() if holder else "a process that has not yet written its name into the lock file"
        waited = f" (waited {waited_s:.0f}s)" if waited_s else ""
        super().__init__(
            f"another pipeline run is using the data folder {self.lock_path.parent}{waited}: it is held by {who}. "
            f"Wait for it to finish (or start this one with --wait), or stop that process if it is stuck; "
            f"the lock is {self.lock_path} and is released automatically when its process ends."
        )


def run_lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / RUN_LOCK_NAME


def read_lock_holder(lock_path: Path) -> LockHolder | None:
    """The holder written in ``lock_path``, or None when there is none (yet) or it cannot be read."""
    for _ in range(5):
        try:
            text = Path(lock_path).read_text(encoding="utf-8")
            if text.strip():
                return LockHolder(**json.loads(text))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            pass
        time.sleep(0.05)  # the holder may be writing its name right now
    return None


# Run locks this process holds: path -> [fd, depth, holder]. ``wmp run`` takes the lock,
# then the run it starts in the same process takes it again (through its resource).
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


def held_run_lock(data_dir: Path) -> LockHolder | None:
    """The holder record if this process holds the run lock of ``data_dir``."""
    with _HELD_GUARD:
        entry = _HELD.get(str(run_lock_path(Path(data_dir)).resolve()))
        return entry[2] if entry else None


@contextmanager
def run_lock(
    data_dir: Path,
    *,
    wait: bool = False,
    timeout_s: float | None = None,
    run_id: str = "",
    on_wait: Callable[[RunLockHeld], None] | None = None,
    poll_s: float = 1.0,
) -> Iterator[LockHolder]:
    """Hold the run lock of ``data_dir`` for the block; re-entrant within one process.

    Without ``wait`` a held lock raises :class:`RunLockHeld` at once. With it,
    ``on_wait`` is called once with that error (so the caller can say whom it
    waits for), then the call waits, up to ``timeout_s`` if given.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = run_lock_path(data_dir).resolve()
    key = str(lock_path)
    with _HELD_GUARD:
        entry = _HELD.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield entry[2]
        finally:
            with _HELD_GUARD:
                entry[1] -= 1
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if not wait or (timeout_s is not None and waited > timeout_s):
                    raise RunLockHeld(lock_path, read_lock_holder(lock_path), waited if wait else None) from None
                if not told and on_wait is not None:
                    on_wait(RunLockHeld(lock_path, read_lock_holder(lock_path)))
                told = True
                time.sleep(poll_s)
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            command=shlex.join(sys.argv) if sys.argv and sys.argv[0] else sys.executable,
            run_id=run_id,
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(holder)) + "\n").encode("utf-8"), 0)
        with _HELD_GUARD:
            _HELD[key] = [fd, 1, holder]
        try:
            yield holder
        finally:
            with _HELD_GUARD:
                _HELD.pop(key, None)
            os.ftruncate(fd, 0)  # no stale name once released
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


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
