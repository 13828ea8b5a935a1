"""The Slurm executor against a real single-node Slurm (started by .ci/setup-slurm.sh):
a study as jobs, a scancelled job retried, Ctrl+C scancelling the jobs, a resume."""

from __future__ import annotations

import _thread
import importlib.util
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import attrs
import pytest
from llem.errors import Interrupted
from llem.run.manifest import read_manifest
from llem.run.study import resume_study, run_study

from tests.core.run.conftest import REPO, gone, quick_study

pytestmark = pytest.mark.slow

SETUP = REPO / ".ci" / "setup-slurm.sh"


@pytest.fixture(scope="module")
def slurm() -> None:
    """A running single-node Slurm; installed and started here when possible."""
    if importlib.util.find_spec("submitit") is None:
        pytest.skip("submitit is not installed (pip install 'llem-core[slurm]')")
    if shutil.which("sinfo") is None and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        pytest.skip("no Slurm here, and .ci/setup-slurm.sh needs root and apt-get")
    done = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{SETUP} failed:\n{done.stdout}\n{done.stderr}"


def _on_slurm(study, **execution):  # type: ignore[no-untyped-def]
    """On Slurm, on the CPU (the test node has no GPUs to give with --gpus)."""
    slurm_cfg = attrs.evolve(study.execution.slurm, time_min=5, poll_s=0.5)
    return attrs.evolve(
        study,
        experiments=tuple(attrs.evolve(e, devices=()) for e in study.experiments),
        execution=attrs.evolve(study.execution, executor="slurm", slurm=slurm_cfg, **execution),
    )


def _when_written(path: Path, within_s: float = 90.0) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"{path} was never written")


def _job_ids(name_prefix: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1].startswith(name_prefix)]


def test_a_study_runs_as_slurm_jobs_and_a_scancelled_job_is_retried(slurm, fake_plugin, tmp_path):
    probe = tmp_path / "probe.json"
    extras = {1: {"sleep_s": 8, "probe_file": str(probe)}}
    study = _on_slurm(quick_study(2, 1, extras=extras), retries=1)
    cancelled: list[str] = []

    def scancel_the_long_one() -> None:
        _when_written(probe)
        probe.unlink()
        cancelled.extend(_job_ids("llem-"))
        subprocess.run(["scancel", *cancelled], check=True)

    killer = threading.Thread(target=scancel_the_long_one, daemon=True)
    killer.start()
    result = run_study(study, out_dir=tmp_path / "out", progress=False)
    killer.join()
    assert cancelled, "no job was running to scancel"
    run_dir = Path(result.run_dir)
    entries = {e.config_index: e for e in read_manifest(run_dir).entries}
    assert result.status == "complete", [r.error for r in result.experiments]
    assert entries[1].attempts == 2 and entries[1].status == "done"
    assert result.experiments[0].status == "ok"
    assert result.experiments[0].placement.executor == "slurm"
    assert (run_dir / "slurm").is_dir()  # submitit's job files and logs


def test_ctrl_c_scancels_the_jobs_and_the_study_resumes(slurm, fake_plugin, tmp_path):
    count_dir, probe = tmp_path / "loads", tmp_path / "probe.json"
    extras = {
        0: {"count_dir": str(count_dir)},
        1: {"sleep_s": 10, "probe_file": str(probe), "count_dir": str(count_dir)},
    }
    study = _on_slurm(quick_study(2, 1, extras=extras))

    worker_pid: list[int] = []

    def ctrl_c_once_the_long_one_runs() -> None:
        worker_pid.append(_when_written(probe)["pid"])
        _thread.interrupt_main()

    threading.Thread(target=ctrl_c_once_the_long_one_runs, daemon=True).start()
    with pytest.raises(Interrupted) as info:
        run_study(study, out_dir=tmp_path / "out", progress=False)
    assert info.value.exit_code == 130
    assert gone(worker_pid[0], within_s=8), "the job's worker outlived Ctrl+C (not scancelled)"
    deadline = time.monotonic() + 8
    while _job_ids("llem-") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _job_ids("llem-") == [], "the study's jobs outlived Ctrl+C"
    (run_dir,) = (tmp_path / "out").iterdir()
    statuses = {e.config_index: e.status for e in read_manifest(run_dir).entries}
    assert statuses[1] == "interrupted"

    probe.unlink()
    before = len(list(count_dir.iterdir()))
    result = resume_study(run_dir, progress=False)
    assert result.status == "complete" and len(result.experiments) == 2
    assert len(list(count_dir.iterdir())) - before == (1 if statuses[0] == "done" else 2)
