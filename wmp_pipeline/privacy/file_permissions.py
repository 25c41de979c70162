"""Files that hold data about people are readable by their owner only (mode 0600).

The analyst file and any export written from it hold pseudonymised personal
data. They are created under a ``0o077`` umask, so there is never a moment
when another local user could open them, and set to ``0600`` explicitly in
case the file already existed with a wider mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWNER_ONLY = 0o600


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
