"""A throw-away PostgreSQL cluster for tests: Debian's ``postgresql`` server, started as users start it.

``initdb`` + ``pg_ctl`` in a fresh temporary folder, on a free TCP port of
127.0.0.1 with its unix socket in that folder, trust authentication for the
``postgres`` role, no fsync (nothing in it is worth keeping). PostgreSQL
refuses to run as root, so as root (CI) the cluster runs as the ``postgres``
system user that Debian's package creates, with the folder handed to it.
``.ci/run`` installs the package; :func:`server_binaries` returns None where
it is absent, and the tests skip with that reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SKIP_REASON = "Debian's postgresql server (initdb, pg_ctl) is not installed (apt-get install postgresql; .ci/run installs it)"


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/<v>/bin``, else PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name or 0))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server as a non-root user, and that user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root and there is no 'postgres' user to run the server as") from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root and util-linux's runuser is absent: cannot start the server as 'postgres'")
    return [runuser, "-u", "postgres", "--"], "postgres"


@dataclass
class Cluster:
    port: int
    folder: Path
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        con.close()
        return self.url(name)


def _run(prefix: list[str], args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(prefix + args, capture_output=True, text=True, timeout=120)


@contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[Cluster]:
    """Start a new cluster in a temporary folder; stop it and delete the folder afterwards."""
    prefix, user = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="wmp-pg-"))
    if user:
        info = pwd.getpwnam(user)
        os.chown(folder, info.pw_uid, info.pw_gid)
    data, log, port = folder / "data", folder / "server.log", _free_port()
    try:
        init = _run(prefix, [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed in {data}:\n{init.stdout[-2000:]}\n{init.stderr[-2000:]}")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        start = _run(prefix, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"])
        if start.returncode != 0:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed (port {port}):\n{start.stderr[-2000:]}\n{text[-3000:]}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections on port {port}: {log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield Cluster(port=port, folder=folder)
    finally:
        if (data / "postmaster.pid").exists():
            _run(prefix, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
