"""SIGTERM stops a study like Ctrl+C, and no process of the study outlives its runner,
however the runner ends (real signals to a real ``llem run``)."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from llem.run.manifest import read_manifest

from tests.core.run.conftest import no_process_left, tagged_processes
from tests.core.run.test_study_worker import STUDY_YAML, _llem, _loads

pytestmark = pytest.mark.slow


def start_study(tmp_path: Path, backend: str, sleep: float = 2.0):
    """`llem run` of a 4-experiment study, tagged; returns (proc, run_dir, count_dir, tag)
    once the second experiment is measuring."""
    count_dir, probe = tmp_path / "loads", tmp_path / "probe.json"
    config = tmp_path / "study.yaml"
    config.write_text(
        STUDY_YAML.format(sleep=sleep, count_dir=count_dir, probe=probe, backend=backend)
    )
    tag = uuid.uuid4().hex
    env = {**os.environ, "LLEM_TEST_TAG": tag}
    proc = _llem(["run", str(config), "--out", str(tmp_path / "out")], env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"study ended early: {proc.communicate()}")
        for path in (tmp_path / "out").glob("*/manifest.json"):
            try:
                counts = read_manifest(path.parent).counts()
            except Exception:
                continue
            if counts["running"] == 1 and _loads(count_dir) >= 2:
                time.sleep(0.3)  # inside generate (sleep_s), where a GPU would be busy
                return proc, path.parent, count_dir, tag, env
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the study never got to its second experiment")


@pytest.mark.parametrize("backend", ["study_fake", "study_fake_preloaded"])
def test_sigterm_is_a_clean_stop_with_exit_143_and_no_process_left(fake_plugin, tmp_path, backend):
    proc, run_dir, _count, tag, _env = start_study(tmp_path, backend)
    assert len(tagged_processes(tag)) >= 2  # the runner and its worker (+ fork server)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)  # the runner only, as `timeout`, `kill` or Slurm do
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.monotonic() - t0 < 5.0
    assert "SIGTERM" in err and f"llem run --resume {run_dir}" in err
    assert "Traceback" not in err
    assert no_process_left(tag, within_s=5.0) == []
    manifest = read_manifest(run_dir)
    assert manifest.status == "interrupted"
    stopped = [e for e in manifest.entries if e.status == "interrupted"]
    assert len(stopped) == 1 and "SIGTERM" in (stopped[0].error or "")
    assert json.loads((run_dir / "study.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("backend", ["study_fake", "study_fake_preloaded"])
def test_sigkill_of_the_runner_takes_every_process_of_the_study_along(
    fake_plugin, tmp_path, backend
):
    proc, run_dir, count_dir, tag, env = start_study(tmp_path, backend, sleep=6.0)
    os.kill(proc.pid, signal.SIGKILL)  # no handler runs in the runner
    proc.wait(timeout=10)
    # the worker was 0.3 s into a 6 s generate: it must go with its runner, not finish
    assert no_process_left(tag, within_s=3.0) == [], "a process outlived its runner"
    # an immediate resume runs alone (the dead runner's lock went with it) and finishes
    loads, manifest = _loads(count_dir), read_manifest(run_dir)
    assert manifest.counts()["running"] == 1  # the killed runner could not say more
    resumed = _llem(["run", "--resume", str(run_dir)], env)
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    assert _loads(count_dir) - loads == 4 - manifest.counts()["done"]
    assert read_manifest(run_dir).status == "complete"
    assert no_process_left(tag, within_s=5.0) == []


def test_sigterm_before_the_study_starts_exits_143(fake_plugin, tmp_path):
    from llem.run.stop import Terminated, exit_code, sigterm_stops

    with pytest.raises(Terminated) as caught, sigterm_stops():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert exit_code(caught.value) == 143
    assert exit_code(KeyboardInterrupt()) == 130
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
