"""Files that hold data about people: never readable by other users, and the analyst file never writable.

The analyst file and any export written from it hold pseudonymised personal
data. They are created under a ``0o077`` umask, so there is never a moment
when another local user could open them. Exports are then set to ``0600``
(owner read/write). The analyst file is published **read-only**,
:data:`ANALYST_FILE_MODE` ``0440``: its owner (the pipeline's account) and its
group may read it, nobody may write it, others may not open it. Its group is
the group of the analyst folder when that folder has the set-group-id bit
(``chgrp analysts data/analyst && chmod g+s data/analyst``): that is how the
analysts' accounts get read access, with no setting in the pipeline.
Otherwise it is the pipeline account's primary group.

File modes bind every account except root: a process running as root can
still open the file for writing. Analysts' tools must never run as root.

The pipeline replaces the analyst file each week by renaming a new file over
it; that needs write permission on the folder, not on the file, so the
read-only mode never stops the next publication.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWNER_ONLY = 0o600
#: The published analyst file: read by its owner and group, written by nobody.
ANALYST_FILE_MODE = 0o440


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Create files inside the block as owner-only (umask 077), then restore the umask."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def restrict_to_owner(path: Path) -> None:
    """Set ``path`` to mode 0600 (owner read/write only)."""
    os.chmod(path, OWNER_ONLY)


def make_read_only(path: Path, mode: int = ANALYST_FILE_MODE) -> None:
    """Set ``path`` to ``mode`` (default 0440) after checking it has no write bit."""
    if mode & 0o222:
        raise ValueError(f"a read-only mode has no write bits: {oct(mode)}")
    os.chmod(path, mode)


def file_mode(path: Path) -> int:
    """The permission bits of ``path`` (e.g. ``0o600``)."""
    return os.stat(path).st_mode & 0o777


def write_private_bytes(path: Path, data: bytes) -> Path:
    """Write an export file atomically (temp file + rename) with mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with owner_only_umask():
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    restrict_to_owner(tmp)
    os.replace(tmp, path)
    return path
