"""One runner per run directory: an OS file lock held for the whole session.

Two ``llem run --resume DIR`` at once would both run every pending experiment side by
side (skewing each other's measurements) and lose each other's manifest updates. The
session takes an exclusive ``flock`` on ``DIR/.lock`` before it touches the manifest and
keeps it until it ends; the kernel releases it when the process dies, however it dies
(SIGKILL included), so a stale lock never needs cleaning up. The file holds the holder's
PID, which the refusal names. The descriptor is close-on-exec, so the spawned workers
and the fork server (both started by exec) never hold the lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from llem.errors import LlemError

LOCK_NAME = ".lock"


class RunDirLocked(LlemError):
    """Another runner holds the run directory."""

    exit_code = 2


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` for the block, or raise RunDirLocked
    (exit 2) naming the PID of the process that holds it."""
    import fcntl

    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        from llem.results.io import storage_error

        raise storage_error(exc, "the run directory's lock file", path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirLocked(
                f"{run_dir} is in use by another llem run (PID {_holder(fd)}); wait for it "
                f"to end or stop it (kill {_holder(fd)}), then resume with "
                f"`llem run --resume {run_dir}`"
            ) from None
        with contextlib.suppress(OSError):  # the PID is for the message; the lock holds
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip() or "unknown"
    except OSError:
        return "unknown"
