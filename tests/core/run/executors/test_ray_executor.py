"""The Ray executor against a real local Ray cluster (custom resources stand in for
GPUs): a study end to end, a killed task retried, Ctrl+C cancelling the remote work,
and a resume with the local executor. One cluster for the module (it takes seconds to start)."""

from __future__ import annotations

import _thread
import importlib.util
import json
import os
import signal
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

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install 'llem-core[ray]')", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(fake_plugin_site):  # type: ignore[no-untyped-def]
    """A local Ray with 2 CPUs and 2 'fake_gpu'; its workers find the study_fake plugin
    (PYTHONPATH is read when Ray starts its processes)."""
    from llem.run.executors.ray import import_ray, init_keeping_signals

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(fake_plugin_site), str(REPO), *([saved] if saved else [])]
    )
    ray = import_ray()  # with the amdsmi shield on PYTHONPATH before Ray starts
    init_keeping_signals(ray, num_cpus=2, resources={"fake_gpu": 2}, include_dashboard=False)
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


def _on_ray(study, **execution):  # type: ignore[no-untyped-def]
    ex = attrs.evolve(
        study.execution,
        executor="ray",
        ray=attrs.evolve(study.execution.ray, gpu_resource="fake_gpu"),
        **execution,
    )
    return attrs.evolve(study, execution=ex)


def _when_written(path: Path, within_s: float = 60.0) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass  # being written
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


def test_a_study_runs_on_ray_and_the_driver_writes_the_run_dir(cluster, fake_plugin, tmp_path):
    study = _on_ray(quick_study(2, 2))
    result = run_study(study, out_dir=tmp_path, progress=False)

    assert result.status == "complete", [r.error for r in result.experiments]
    run_dir = Path(result.run_dir)
    assert read_manifest(run_dir).counts()["done"] == 4
    for r in result.experiments:
        assert r.placement.executor == "ray"
        exp_dir = run_dir / "experiments" / r.id
        assert (exp_dir / "result.json").exists()
        assert b"worker.exiting" in (exp_dir / "worker.log").read_bytes()  # shipped back
    assert [agg.cycles_ok for agg in result.aggregates] == [2, 2]


def test_a_killed_ray_task_is_a_failed_attempt_that_retries(cluster, fake_plugin, tmp_path):
    probe = tmp_path / "probe.json"
    study = _on_ray(
        quick_study(1, 1, extras={0: {"sleep_s": 3, "probe_file": str(probe)}}), retries=1
    )

    def kill_the_task() -> None:
        ray_worker = _when_written(probe)["ppid"]  # the llem worker's parent: the task
        os.kill(ray_worker, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_task, daemon=True)
    killer.start()
    result = run_study(study, out_dir=tmp_path / "out", progress=False)
    killer.join()

    assert result.status == "complete"
    (entry,) = read_manifest(Path(result.run_dir)).entries
    assert entry.status == "done" and entry.attempts == 2


def test_ctrl_c_cancels_the_ray_tasks_and_the_study_resumes(cluster, fake_plugin, tmp_path):
    count_dir, probe = tmp_path / "loads", tmp_path / "probe.json"
    extras = {
        0: {"count_dir": str(count_dir)},
        1: {"sleep_s": 30, "probe_file": str(probe), "count_dir": str(count_dir)},
    }
    study = _on_ray(quick_study(2, 1, extras=extras))
    worker_pid: list[int] = []

    def ctrl_c_once_the_long_one_runs() -> None:
        worker_pid.append(_when_written(probe)["pid"])
        _thread.interrupt_main()

    threading.Thread(target=ctrl_c_once_the_long_one_runs, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(Interrupted) as info:
        run_study(study, out_dir=tmp_path / "out", progress=False)
    assert info.value.exit_code == 130 and time.monotonic() - t0 < 25
    assert gone(worker_pid[0], within_s=10), "the remote worker outlived the cancel"
    (run_dir,) = (tmp_path / "out").iterdir()
    statuses = {e.config_index: e.status for e in read_manifest(run_dir).entries}
    assert statuses[1] == "interrupted"

    # resume with another executor: `execution` is not part of an experiment's identity
    probe.unlink()
    study_file = run_dir / "config.yaml"
    text = study_file.read_text()
    assert "executor: ray" in text
    study_file.write_text(text.replace("executor: ray", "executor: local"))
    before = len(list(count_dir.iterdir()))
    result = resume_study(run_dir, progress=False)
    assert result.status == "complete" and len(result.experiments) == 2
    assert result.experiments[1].placement.executor == "local"
    ran_again = len(list(count_dir.iterdir())) - before
    assert ran_again == (1 if statuses[0] == "done" else 2)
