"""One runner per run directory: an OS lock that a dead holder releases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from llem.run.lock import LOCK_NAME, RunDirLocked, run_dir_lock
from llem.run.manifest import read_manifest

from tests.core.run.conftest import no_process_left
from tests.core.run.test_stop import start_study
from tests.core.run.test_study_worker import _llem, _loads

HOLD = (
    "import sys, time; from llem.run.lock import run_dir_lock\n"
    "with run_dir_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
)


def test_a_second_holder_is_refused_naming_the_first_ones_pid(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(RunDirLocked, match=f"PID {holder.pid}") as caught,
            run_dir_lock(tmp_path),
        ):
            pass
        assert caught.value.exit_code == 2
        assert f"--resume {tmp_path}" in str(caught.value)
        os.kill(holder.pid, signal.SIGKILL)  # a dead holder releases the lock
        holder.wait()
        with run_dir_lock(tmp_path):
            assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_released_when_the_block_ends(tmp_path):
    with run_dir_lock(tmp_path):
        pass
    with run_dir_lock(tmp_path):
        pass


@pytest.mark.slow
def test_two_concurrent_resumes_run_each_pending_experiment_once(fake_plugin, tmp_path):
    proc, run_dir, count_dir, tag, env = start_study(tmp_path, "study_fake", sleep=1.0)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    todo = 4 - read_manifest(run_dir).counts()["done"]
    loads = _loads(count_dir)
    first = _llem(["run", "--resume", str(run_dir)], env)
    second = _llem(["run", "--resume", str(run_dir)], env)
    outcomes = {p.pid: (p, *p.communicate(timeout=180)) for p in (first, second)}
    codes = sorted(p.returncode for p, _, _ in outcomes.values())
    assert codes == [0, 2], outcomes
    loser = next(v for v in outcomes.values() if v[0].returncode == 2)
    winner = next(v for v in outcomes.values() if v[0].returncode == 0)
    assert f"PID {winner[0].pid}" in loser[2] and "Traceback" not in loser[2]
    assert _loads(count_dir) - loads == todo  # each pending experiment ran once
    manifest = read_manifest(run_dir)
    assert manifest.status == "complete" and manifest.counts()["done"] == 4
    assert no_process_left(tag, within_s=5.0) == []
