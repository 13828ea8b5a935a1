"""Atomic writes: a reader (or a crash) never sees half a file.

Data goes to a temporary file in the target's directory, is flushed and fsync'ed, then
``os.replace`` swaps it in -- atomic on POSIX and Windows within one filesystem. The file
gets the permissions a plain ``open()`` would give it (0666 less the user's umask), not
the 0600 of the temporary file.

A full disk, a read-only directory or a name too long for the filesystem are not bugs
but situations: ``write_retrying`` tries such a write once more and then raises a
``StorageError`` that says what could not be written and what to free or fix; a study
stops on it cleanly (llem.run.session) with its last manifest intact.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llem.errors import LlemError

# what a write can meet that is about the storage, not the data
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "the file name is too long for the file system",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EEXIST: "a part of the path exists and is not a directory",
    errno.EIO: "an I/O error of the device",
    errno.EFBIG: "the file is too large for the file system",
}


class StorageError(LlemError):
    """A file of the run could not be written (full disk, read-only, bad path)."""

    exit_code = 1


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; on success it replaces ``path``,
    on error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (creating parent directories)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON to ``path`` atomically.

    NaN and infinities are written as null: they are not JSON, and a result field that
    is not a number is None anyway."""
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False)
    write_bytes_atomic(path, (text + "\n").encode("utf-8"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask can
    only be read by setting it, which races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def storage_error(exc: OSError, what: str, path: Path) -> StorageError:
    """The StorageError of ``exc`` met writing ``what`` at ``path``: why, and the fix."""
    reason = STORAGE_ERRNOS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    where = Path(path).parent
    fix = {
        errno.ENOSPC: f"free space on the file system of {where}",
        errno.EDQUOT: f"free space in your quota on the file system of {where}",
        errno.ENAMETOOLONG: "use a shorter name (study name, output.dir)",
    }.get(exc.errno or 0, f"make {where} a writable directory, or choose another output.dir")
    return StorageError(f"could not write {what} ({path}): {reason}; {fix}")


def write_retrying(write: Callable[[], None], what: str, path: Path, pause_s: float = 1.0) -> None:
    """Call ``write``; a storage OSError (``STORAGE_ERRNOS``) gets one more try after
    ``pause_s`` (a log rotation or a cleanup may have freed space), then becomes a
    StorageError. Other errors propagate unchanged."""
    try:
        write()
        return
    except OSError as exc:
        if not is_storage_error(exc):
            raise
    time.sleep(pause_s)
    try:
        write()
    except OSError as exc:
        if not is_storage_error(exc):
            raise
        raise storage_error(exc, what, path) from None
