from __future__ import annotations

import json
import os

import pytest
from llem.results.io import atomic_path, write_bytes_atomic, write_json_atomic


def test_writes_create_parents_and_leave_no_temporary_files(tmp_path):
    path = tmp_path / "a" / "b" / "x.json"
    write_json_atomic(path, {"k": [1, 2.5, None], "t": (1, 2)})
    assert json.loads(path.read_text()) == {"k": [1, 2.5, None], "t": [1, 2]}
    write_bytes_atomic(path, b"v2")
    assert path.read_bytes() == b"v2"
    assert os.listdir(path.parent) == ["x.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"v": object()})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["x.json"]


def test_the_file_is_replaced_not_rewritten_in_place(tmp_path):
    path = tmp_path / "x.bin"
    write_bytes_atomic(path, b"old")
    reader = path.open("rb")  # a reader holding the old file keeps seeing it whole
    write_bytes_atomic(path, b"new content")
    assert reader.read() == b"old"
    reader.close()


def test_nan_and_infinity_become_null(tmp_path):
    write_json_atomic(tmp_path / "x.json", {"a": float("nan"), "b": [float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": None, "b": [None]}


# -- permissions and storage errors (issue 18, classes 6 and 8) ----------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, umask):
    import os
    import stat

    from llem.results.io import write_json_atomic

    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o666 & ~umask


def _enospc(path="x"):
    import errno

    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_storage_error_is_retried_once_then_names_what_and_where(tmp_path):
    from llem.results.io import StorageError, write_retrying

    calls = []

    def full():
        calls.append(1)
        raise _enospc(tmp_path / "r.json")

    with pytest.raises(StorageError) as info:
        write_retrying(full, "the result of abc", tmp_path / "r.json", pause_s=0)
    assert len(calls) == 2
    msg = str(info.value)
    assert "the result of abc" in msg and "no space left" in msg
    assert f"free space on the file system of {tmp_path}" in msg


def test_a_write_that_succeeds_on_the_retry_is_kept(tmp_path):
    from llem.results.io import write_retrying

    calls = []

    def once_full():
        calls.append(1)
        if len(calls) == 1:
            raise _enospc()

    write_retrying(once_full, "x", tmp_path / "x", pause_s=0)
    assert len(calls) == 2


def test_other_errors_are_not_storage_errors(tmp_path):
    from llem.results.io import write_retrying

    def broken():
        raise ConnectionResetError("peer")

    with pytest.raises(ConnectionResetError):
        write_retrying(broken, "x", tmp_path / "x", pause_s=0)
