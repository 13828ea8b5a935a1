"""The local executor with GPU slots: experiments side by side on disjoint (fake) GPUs,
each in its own real worker process."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    EnergyConfig,
    ExecutionConfig,
    ExperimentConfig,
    GenerationConfig,
    StudyConfig,
    WarmupConfig,
)
from llem.run.manifest import read_manifest
from llem.run.study import run_study

from tests.fakes.backend import FakeBackendConfig
from tests.fakes.machine import load_fake_pynvml, prepare_worker_machine

pytestmark = pytest.mark.slow

TWO = [{"uuid": f"GPU-{i}1111111-2222-3333-4444-55555555555{i}"} for i in range(2)]


@pytest.fixture
def two_gpus(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """A simulated 2-GPU machine, for the driver (in process) and its spawned workers."""
    from llem.telemetry import cuda_driver, nvml

    prepare_worker_machine(monkeypatch, tmp_path)(gpus=TWO)
    monkeypatch.setitem(sys.modules, "pynvml", load_fake_pynvml())  # the same machine here
    monkeypatch.setattr(nvml, "_initialised", set())
    monkeypatch.setattr(cuda_driver, "load_libcuda", lambda: None)
    from llem.plugins import get_registry

    get_registry(refresh=True)
    yield
    get_registry(refresh=True)


def _experiment(i: int) -> ExperimentConfig:
    return ExperimentConfig(
        model=f"fake-model-{i}",
        backend="fake",
        devices=(0,),
        dataset=DatasetConfig(num_prompts=2, input_len=8),
        generation=GenerationConfig(max_new_tokens=8),
        warmup=WarmupConfig(runs=0, thermal_floor_s=0),
        baseline=BaselineConfig(enabled=False),
        energy=EnergyConfig(sample_interval_ms=20, min_window_s=0.1),
        sections={"fake": FakeBackendConfig(prefill_s=0.8, step_s=0.05)},
    )


def _window(result):  # type: ignore[no-untyped-def]
    return datetime.fromisoformat(result.started_at), datetime.fromisoformat(result.ended_at)


def test_per_gpu_runs_two_experiments_at_once_on_disjoint_gpus(two_gpus, tmp_path):
    study = StudyConfig(
        name="slots",
        experiments=(_experiment(0), _experiment(1)),
        execution=ExecutionConfig(
            cycles=1, config_gap_s=0, cycle_gap_s=0, parallel="per_gpu", timeout_s=120
        ),
    )
    result = run_study(study, out_dir=tmp_path, progress=False)

    assert result.status == "complete", [r.error for r in result.experiments]
    a, b = result.experiments
    (a0, a1), (b0, b1) = _window(a), _window(b)
    assert a0 < b1 and b0 < a1, "the two experiments did not overlap in time"
    gpus_a = [g.uuid for g in a.environment.gpus]
    gpus_b = [g.uuid for g in b.environment.gpus]
    assert len(gpus_a) == len(gpus_b) == 1 and set(gpus_a) | set(gpus_b) == {g["uuid"] for g in TWO}
    assert list(a.energy.per_device_j) == gpus_a and list(b.energy.per_device_j) == gpus_b
    assert a.placement.executor == "local" and a.placement.gpus == tuple(gpus_a)
    assert a.placement.neighbours == (b.id,) and b.placement.neighbours == (a.id,)
    # the planned config (devices as written) is kept, so aggregates and resume match
    manifest = read_manifest(Path(result.run_dir))
    assert [e.config_hash for e in manifest.entries] == [a.config_hash, b.config_hash]
    assert [agg.cycles_ok for agg in result.aggregates] == [1, 1]


def test_exclusive_node_runs_one_at_a_time_with_no_neighbours(two_gpus, tmp_path):
    study = StudyConfig(
        name="alone",
        experiments=(_experiment(0), _experiment(1)),
        execution=ExecutionConfig(
            cycles=1,
            config_gap_s=0,
            cycle_gap_s=0,
            parallel="per_gpu",
            isolation="exclusive_node",
            timeout_s=120,
        ),
    )
    result = run_study(study, out_dir=tmp_path, progress=False)

    assert result.status == "complete", [r.error for r in result.experiments]
    a, b = result.experiments
    assert _window(a)[1] <= _window(b)[0]
    assert a.placement.neighbours == () and a.placement.exclusive_node
