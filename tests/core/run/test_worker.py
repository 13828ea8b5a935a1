"""run_in_worker: a spawned process per experiment; every ending is a result."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import time

import attrs
import pytest
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    EnergyConfig,
    ExperimentConfig,
    GenerationConfig,
    WarmupConfig,
)
from llem.run import worker
from llem.run.worker import run_in_worker
from llem.telemetry import cuda_driver

from tests.core.run.conftest import gone
from tests.fakes.backend import FakeBackendConfig
from tests.fakes.machine import load_fake_pynvml, prepare_worker_machine
from tests.fakes.study_results import make_result


@pytest.fixture
def machine(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """``setup(gpus=[...])``: a simulated NVIDIA machine for spawned workers."""
    return prepare_worker_machine(monkeypatch, tmp_path)


FOUR = [{"uuid": f"GPU-{i}0000000-0000-0000-0000-00000000000{i}"} for i in range(4)]


def make_cfg(fake=None, **changes):  # type: ignore[no-untyped-def]
    cfg = ExperimentConfig(
        model="fake-model",
        backend="fake",
        devices=(0,),
        dataset=DatasetConfig(num_prompts=4, input_len=8),
        generation=GenerationConfig(max_new_tokens=8),
        warmup=WarmupConfig(runs=1, thermal_floor_s=0),
        baseline=BaselineConfig(duration_s=0.2),
        energy=EnergyConfig(sample_interval_ms=20, min_window_s=0.1),
        sections={"fake": fake or FakeBackendConfig()},
    )
    return attrs.evolve(cfg, **changes)


def drain(events):  # type: ignore[no-untyped-def]
    out = []
    while True:
        try:
            out.append(events.get(timeout=1.0))
        except queue.Empty:
            return out


def test_a_measured_experiment_comes_back_with_events_and_its_time_series(machine, tmp_path):
    machine(gpus=[{}, {}])
    events = multiprocessing.get_context("spawn").Queue()
    fake = FakeBackendConfig(prefill_s=0.1, step_s=0.02)
    result = run_in_worker(
        make_cfg(fake, devices=(0, 1)),
        experiment_id="abc-c2",
        cycle=2,
        run_dir=tmp_path,
        timeout_s=120,
        events=events,
    )
    assert result.status == "ok", result.error
    assert result.id == "abc-c2" and result.cycle == 2
    assert result.energy.meter == "nvml" and result.energy.gpu_j > 0
    assert len(result.energy.per_device_j) == 2
    assert (tmp_path / result.timeseries_file).exists()
    got = drain(events)
    assert all(e[1] == "abc-c2" for e in got)
    phases = [e[2] for e in got if e[0] == "phase"]
    assert phases == ["baseline", "load", "warmup", "measuring", "done"]
    assert any(e[0] == "power" and len(e[2]) == 2 for e in got)
    events.close()


@pytest.mark.skipif(
    cuda_driver.load_libcuda() is not None,
    reason="libcuda present: CUDA itself applies CUDA_VISIBLE_DEVICES",
)
def test_cuda_visible_devices_2_0_in_the_worker_measures_nvml_2_and_0(
    machine, tmp_path, monkeypatch
):
    machine(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    result = run_in_worker(
        make_cfg(devices=(0, 1)), experiment_id="x-c1", cycle=1, run_dir=tmp_path, timeout_s=120
    )
    assert result.status == "ok", result.error
    assert [g.nvml_index for g in result.environment.gpus] == [2, 0]
    assert list(result.energy.per_device_j) == [FOUR[2]["uuid"], FOUR[0]["uuid"]]


@pytest.mark.parametrize(
    "crash, field, value", [("sigkill", "signal", 9), ("exit", "exit_code", 3)]
)
def test_a_worker_that_dies_becomes_a_failed_result(machine, tmp_path, crash, field, value):
    machine()
    result = run_in_worker(
        make_cfg(FakeBackendConfig(crash=crash)),
        experiment_id="d-c1",
        cycle=1,
        run_dir=tmp_path,
        timeout_s=120,
    )
    assert result.status == "failed" and result.error.kind == "crash"
    assert getattr(result.error, field) == value
    assert "before sending a result" in result.error.message
    assert result.config_hash and result.config["backend"] == "fake"


def test_an_exception_in_the_worker_keeps_its_traceback(machine, tmp_path):
    machine()
    result = run_in_worker(
        make_cfg(FakeBackendConfig(crash="raise", fail_in="load")),
        experiment_id="e-c1",
        cycle=1,
        run_dir=tmp_path,
        timeout_s=120,
    )
    assert result.status == "failed" and result.error.kind == "exception"
    assert "told to fail in load" in result.error.message
    assert "Traceback" in result.error.traceback_tail
    assert result.environment is not None  # the snapshot taken before it failed


def test_a_timeout_kills_the_worker(machine, tmp_path):
    machine()
    t0 = time.monotonic()
    result = run_in_worker(
        make_cfg(FakeBackendConfig(crash="hang")),
        experiment_id="t-c1",
        cycle=1,
        run_dir=tmp_path,
        timeout_s=4,
    )
    assert time.monotonic() - t0 < 15
    assert result.status == "failed" and result.error.kind == "timeout"
    assert result.error.signal == 9 and "execution.timeout_s=4" in result.error.message


def test_ctrl_c_kills_the_worker_and_is_re_raised(machine, tmp_path, monkeypatch):
    machine()
    started = []
    real_wait = worker.wait

    def interrupted_wait(objects, timeout=None):  # type: ignore[no-untyped-def]
        started.extend(c.pid for c in multiprocessing.active_children())
        real_wait(objects, timeout=2.0)
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        run_in_worker(
            make_cfg(FakeBackendConfig(crash="hang")),
            experiment_id="k-c1",
            cycle=1,
            run_dir=tmp_path,
            timeout_s=None,
        )
    assert started
    for pid in started:  # killed and reaped: the pid no longer exists
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("crash, timeout", [("hang", 4), (None, 120)])
def test_processes_the_worker_started_do_not_outlive_it(machine, tmp_path, crash, timeout):
    machine()
    pid_file = tmp_path / "child.pid"
    fake = FakeBackendConfig(crash=crash, child_pid_file=str(pid_file))
    run_in_worker(
        make_cfg(fake), experiment_id="o-c1", cycle=1, run_dir=tmp_path, timeout_s=timeout
    )
    pid = int(pid_file.read_text())
    assert gone(pid, within_s=5.0)


def test_large_results_travel_through_a_file_in_the_experiment_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "RESULT_FILE_LIMIT", 100)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    result = make_result()
    worker._send(sender, result, tmp_path / "experiments" / "x", False)
    message = receiver.recv()
    assert message[0] == "file" and os.path.exists(message[1])
    assert message[1].startswith(str(tmp_path / "experiments" / "x"))
    assert worker._unpack(message, None) == result  # type: ignore[arg-type]
    assert not os.path.exists(message[1])


def test_small_results_travel_through_the_pipe(tmp_path):
    receiver, sender = multiprocessing.Pipe(duplex=False)
    worker._send(sender, make_result(), tmp_path, True)
    kind, payload, keeps = receiver.recv()
    assert kind == "result" and pickle.loads(payload) == make_result() and keeps


def test_fake_pynvml_is_not_left_in_the_parent():
    import sys

    module = sys.modules.get("pynvml")
    assert module is None or not getattr(module, "FAKE_NVML", False)
    assert load_fake_pynvml().FAKE_NVML


def _run_log_events(run_dir) -> list[dict]:  # type: ignore[no-untyped-def]
    import json

    return [json.loads(line) for line in (run_dir / "llem.log").read_text().splitlines()]


def test_the_result_and_the_run_log_survive_the_workers_fast_exit(machine, tmp_path):
    machine()
    events = multiprocessing.get_context("spawn").Queue()
    result = run_in_worker(
        make_cfg(), experiment_id="f-c1", cycle=1, run_dir=tmp_path, timeout_s=120, events=events
    )
    assert result.status == "ok", result.error
    logged = [e for e in _run_log_events(tmp_path) if e.get("id") == "f-c1"]
    assert logged[-1]["event"] == "worker.exiting" and logged[-1]["status"] == "ok"
    assert ("phase", "f-c1", "done") in drain(events)  # the last event was flushed too
    events.close()


def test_a_worker_that_cannot_send_its_result_exits_with_code_1(machine, tmp_path, capfd):
    machine()
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=worker.worker_main, args=(sender, make_cfg(), "b-c1", 1, str(tmp_path), None)
    )
    process.start()
    sender.close()
    receiver.close()  # nobody reads: the worker's send fails with BrokenPipeError
    process.join(120)
    assert process.exitcode == 1
    assert "BrokenPipeError" in capfd.readouterr().err
    assert "worker.exiting" not in (tmp_path / "llem.log").read_text()


def test_stopping_the_workers_children_terms_then_kills_the_stubborn(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = tmp_path / "trapped"
    polite = ctx.Process(target=time.sleep, args=(60,))
    stubborn = ctx.Process(
        target=os.execv,  # a shell that ignores SIGTERM
        args=("/bin/sh", ["sh", "-c", f"trap '' TERM; touch {ready}; exec sleep 60"]),
    )
    polite.start()
    stubborn.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    worker._stop_processes([polite, stubborn], grace_s=1.0)
    assert time.monotonic() - t0 < 5
    assert polite.exitcode == -signal.SIGTERM
    assert stubborn.exitcode == -signal.SIGKILL


def _start_a_child_then_exit(pid_file: str) -> None:
    """A stand-in worker: a multiprocessing child (as Zeus's RAPL pollers), then the exit."""
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    child.start()
    with open(pid_file, "w") as fh:
        fh.write(str(child.pid))
    worker._exit(None, 0)


def test_the_fast_exit_stops_what_the_worker_started_without_the_parents_help(tmp_path):
    pid_file = tmp_path / "child.pid"
    process = multiprocessing.get_context("spawn").Process(
        target=_start_a_child_then_exit, args=(str(pid_file),)
    )
    process.start()
    process.join(60)  # no process group, no group kill: only _exit can stop the child
    assert process.exitcode == 0
    assert gone(int(pid_file.read_text()))
