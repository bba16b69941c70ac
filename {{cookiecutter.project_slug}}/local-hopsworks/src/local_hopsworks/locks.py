"""Named locks on a store folder, held across processes: one writer at a time where that is needed.

A Delta merge is retried when another writer committed first, which keeps each insert whole, but a
read-compute-write (a feature run reading history to compute lags) or an erasure run that rewrites a
table's history must not interleave with another one: they take a lock file under ``<store>/locks``.
The operating system releases the lock when its holder exits, even after SIGKILL.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKS = "locks"


def lock_path(root: Path, name: str) -> Path:
    """Return the lock file of the lock ``name`` in the store folder ``root``."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"lock name {name!r} must be letters, digits, '-' and '_'")
    return Path(root) / LOCKS / f"{name}.lock"


def _acquire(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # waits about 10 s, then raises: wait again
                return
            except OSError:
                time.sleep(0.1)
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


def _release(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def store_lock(root: Path, name: str) -> Iterator[Path]:
    """Hold the exclusive lock ``name`` of the store folder ``root`` while the block runs (waits for it).

    Yields:
        The lock file's path.
    """
    path = lock_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd)
        try:
            yield path
        finally:
            _release(fd)
    finally:
        os.close(fd)
