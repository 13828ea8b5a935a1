"""The study session against the faults of issue 18: changed inputs on resume, deleted
results, full disks and bad output directories (with the in-process worker stand-in;
real signals and concurrent runners: test_stop.py and test_lock.py)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from llem.config.loader import loads
from llem.errors import ConfigError
from llem.results.io import StorageError
from llem.run.manifest import read_manifest
from llem.run.study import resume_study, run_study

from tests.core.run.conftest import quick_study

JSONL_STUDY = """\
name: pinned
model: builtin:tiny-llama
backend: study_fake
weights: random
precision: fp32
dataset: {source: jsonl, path: prompts.jsonl, num_prompts: 2}
warmup: {runs: 0, thermal_floor_s: 0}
baseline: {enabled: false}
execution: {cycles: 2, config_gap_s: 0, cycle_gap_s: 0, reuse_engine: false}
"""


@pytest.fixture
def seen_paths(fake_worker, monkeypatch):
    """The dataset.path of every config the worker stand-in was handed."""
    import importlib

    seen: list[str | None] = []
    module = importlib.import_module("llem.run.worker")

    def capture(cfg, **kw):
        seen.append(cfg.dataset.path)
        return fake_worker(cfg, **kw)

    monkeypatch.setattr(module, "run_in_worker", capture)
    return seen


def _start_in(directory: Path, prompts: str, out: Path, fake_worker) -> Path:
    directory.mkdir()
    (directory / "prompts.jsonl").write_text(prompts, encoding="utf-8")
    os.chdir(directory)
    fake_worker.interrupt_at_call = 2
    with pytest.raises(Exception, match="interrupted"):
        run_study(loads(JSONL_STUDY, "pinned.yaml"), out_dir=out, progress=False)
    fake_worker.interrupt_at_call = None
    (run_dir,) = out.iterdir()
    return run_dir


def test_resume_from_another_directory_reads_the_pinned_dataset(
    fake_worker, seen_paths, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "a"
    run_dir = _start_in(first, '{"prompt": "from a"}\n', tmp_path / "out", fake_worker)
    (pin,) = read_manifest(run_dir).pins
    assert pin.field == "dataset.path" and pin.written == "prompts.jsonl"
    assert pin.path == str(first / "prompts.jsonl") and pin.fingerprint.startswith("sha256:")
    other = tmp_path / "b"  # a directory with other prompts under the same name
    other.mkdir()
    (other / "prompts.jsonl").write_text('{"prompt": "from b"}\n', encoding="utf-8")
    os.chdir(other)
    result = resume_study(run_dir, progress=False)
    assert result.status == "complete"
    assert set(seen_paths) == {str(first / "prompts.jsonl")}  # never b's


def test_resume_is_refused_when_a_pinned_input_changed(fake_worker, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "a"
    run_dir = _start_in(first, '{"prompt": "one"}\n', tmp_path / "out", fake_worker)
    (first / "prompts.jsonl").write_text('{"prompt": "two"}\n', encoding="utf-8")
    calls = len(fake_worker.calls)
    with pytest.raises(ConfigError) as info:
        resume_study(run_dir, progress=False)
    msg = str(info.value)
    assert info.value.exit_code == 2
    assert f"dataset.path 'prompts.jsonl' (pinned as {first / 'prompts.jsonl'}) changed" in msg
    assert len(fake_worker.calls) == calls
    (first / "prompts.jsonl").unlink()
    with pytest.raises(ConfigError, match=f"{first / 'prompts.jsonl'}.*(no such file|no longer)"):
        resume_study(run_dir, progress=False)


def test_a_local_model_directory_is_pinned_by_content(tmp_path):
    from llem.run.pins import fingerprint

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    before = fingerprint(ckpt)
    (ckpt / "config.json").write_text('{"n": 1}')
    assert fingerprint(ckpt) != before


def test_a_deleted_result_of_a_finished_study_is_run_again(fake_worker, tmp_path, capsys):
    result = run_study(quick_study(2, 1), out_dir=tmp_path, progress=False)
    run_dir = Path(result.run_dir)
    gone = read_manifest(run_dir).entries[1]
    (run_dir / gone.result).unlink()
    fake_worker.calls.clear()
    again = resume_study(run_dir, progress=True)
    assert [c[0] for c in fake_worker.calls] == [gone.id]
    assert "nothing to resume" not in capsys.readouterr().out
    assert again.status == "complete" and (run_dir / gone.result).exists()


@pytest.fixture
def full_disk(monkeypatch):
    """The atomic writer meets ENOSPC, as on a full disk, for paths ``match`` picks."""
    import llem.results.io as io

    real = io.write_bytes_atomic
    state: dict = {"match": None, "attempts": []}

    def write(path, data):
        if state["match"] is not None and state["match"](Path(path)):
            state["attempts"].append((Path(path), data))
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(io, "write_bytes_atomic", write)
    monkeypatch.setattr(io.time, "sleep", lambda s: None)  # the pause before the retry
    return state


def test_a_full_disk_mid_study_retries_once_then_stops_cleanly_and_resumes(
    fake_worker, full_disk, tmp_path
):
    study = quick_study(2, 2)
    written: list[Path] = []

    def second_result(path: Path) -> bool:
        if path.name == "result.json":
            written.append(path)
            return len({p.parent.name for p in written}) >= 2  # from the second result on
        return False

    full_disk["match"] = second_result
    with pytest.raises(StorageError) as info:
        run_study(study, out_dir=tmp_path, progress=False)
    msg = str(info.value)
    assert info.value.exit_code == 1
    assert "no space left on the device" in msg and "free space on the file system" in msg
    (run_dir,) = tmp_path.iterdir()
    assert f"llem run --resume {run_dir}" in msg
    attempts = full_disk["attempts"]
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # the same result, kept, twice
    manifest = read_manifest(run_dir)  # consistent and resumable
    assert manifest.status == "interrupted"
    assert [e.status for e in manifest.entries] == ["done", "interrupted", "pending", "pending"]
    assert "storage" in (manifest.entries[1].error or "")
    full_disk["match"] = None  # space freed
    fake_worker.calls.clear()
    result = resume_study(run_dir, progress=False)
    assert result.status == "complete" and len(fake_worker.calls) == 3


def test_a_full_disk_at_the_start_is_a_clear_error(fake_worker, full_disk, tmp_path):
    full_disk["match"] = lambda path: True
    with pytest.raises(StorageError, match=r"could not write the study's config\.yaml"):
        run_study(quick_study(1, 1), out_dir=tmp_path, progress=False)
    assert fake_worker.calls == []


def test_an_output_dir_under_a_file_is_a_config_error(fake_worker, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="output.dir .*file/results: cannot create"):
        run_study(quick_study(1, 1), out_dir=tmp_path / "file" / "results", progress=False)


def test_a_read_only_output_dir_is_a_config_error(fake_worker, tmp_path, monkeypatch):
    def read_only(self, *a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(ConfigError, match="the file system is read-only"):
        run_study(quick_study(1, 1), out_dir=tmp_path / "ro", progress=False)


def test_a_study_name_too_long_for_the_file_system_still_gets_a_run_directory(
    fake_worker, tmp_path
):
    import attrs

    study = attrs.evolve(quick_study(1, 1), name="n" * 400)
    result = run_study(study, out_dir=tmp_path, progress=False)
    assert result.status == "complete" and len(Path(result.run_dir).name) < 120
    assert json.loads((Path(result.run_dir) / "manifest.json").read_text())["study"] == "n" * 400
