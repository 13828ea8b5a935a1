"""Fixture studies made by the real pipeline: run_study (session, manifest, sinks,
aggregation) over the real lifecycle (baseline, warmup, window, NVML meter, attribution,
serving load generator) on the fake NVML machine and the fake backend, which draws
power like a GPU run. Only the worker process is skipped: each experiment runs in this
process (as tests/core/measure does), so a study of 30 experiments takes seconds.

Built once per session; tests only read them.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    EnergyConfig,
    ExecutionConfig,
    ExperimentConfig,
    GenerationConfig,
    LoadConfig,
    SloConfig,
    StudyConfig,
    WarmupConfig,
)

from tests.fakes import backend as fake_backend
from tests.fakes.backend import FakeBackendConfig
from tests.fakes.machine import load_fake_pynvml

CYCLES = 3
OFFLINE_GRID = [(b, n) for b in (2, 4) for n in (8, 16)]  # (batch_size, max_new_tokens)
SERVING_GRID = [(b, r) for b in (2, 4) for r in (50.0, 100.0, 200.0)]  # (batch_size, rate)


def experiment(batch: int, new_tokens: int, **changes: Any) -> ExperimentConfig:
    fake = FakeBackendConfig(batch_size=batch, prefill_s=0.03, step_s=0.004)
    cfg = ExperimentConfig(
        model="fake-model",
        backend="fake",
        devices=(0,),
        dataset=DatasetConfig(num_prompts=8, input_len=16),
        generation=GenerationConfig(max_new_tokens=new_tokens),
        warmup=WarmupConfig(runs=1, thermal_floor_s=0),
        baseline=BaselineConfig(duration_s=0.2),
        energy=EnergyConfig(sample_interval_ms=10, min_window_s=0.05),
        sections={"fake": fake},
    )
    import attrs

    return attrs.evolve(cfg, **changes)


def serving_experiment(batch: int, rate: float) -> ExperimentConfig:
    cfg = experiment(batch, 8)
    import attrs

    return attrs.evolve(
        cfg,
        load=LoadConfig(mode="serving", arrival="poisson", rate=rate, warmup_requests=2),
        slo=SloConfig(ttft_s=0.3, tpot_s=0.01),
        dataset=attrs.evolve(cfg.dataset, num_prompts=24),
    )


def study(name: str, experiments: list[ExperimentConfig]) -> StudyConfig:
    ex = ExecutionConfig(cycles=CYCLES, config_gap_s=0.0, cycle_gap_s=0.0)
    return StudyConfig(name=name, experiments=tuple(experiments), execution=ex)


def in_process_worker(cfg: Any, *, experiment_id: str, cycle: int, run_dir: Path, **_: Any) -> Any:
    """run_in_worker without the process: the real lifecycle, here."""
    from llem.measure.lifecycle import run_experiment
    from llem.plugins import get_registry

    return run_experiment(
        cfg, experiment_id=experiment_id, cycle=cycle, run_dir=run_dir, registry=get_registry()
    )


@contextlib.contextmanager
def fake_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The fake NVML machine (one GPU), the fake backend registered, the worker in
    process -- only while the fixture studies are built: left on for the session, the
    in-process worker would run every later test's experiments inside pytest."""
    from llem.plugins import get_registry
    from llem.run import worker
    from llem.telemetry import cuda_driver, nvml

    site = tmp_path_factory.mktemp("report-site")
    fake_backend.install(site)
    module = load_fake_pynvml()
    module.configure(gpus=[{"power_w": 70.0}])
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "pynvml", module)
        mp.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        mp.setenv("LLEM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("LLEM_PLUGINS", fake_backend.ENTRY_POINT)
        mp.setattr(nvml, "_initialised", set())
        mp.setattr(cuda_driver, "load_libcuda", lambda: None)
        mp.setattr(worker, "run_in_worker", in_process_worker)
        mp.setattr(worker.EngineKeeper, "run", lambda self, cfg, **kw: in_process_worker(cfg, **kw))
        mp.syspath_prepend(str(site))
        importlib.invalidate_caches()
        get_registry(refresh=True)
        try:
            yield
        finally:
            get_registry(refresh=True)
    importlib.invalidate_caches()
    get_registry(refresh=True)


def _run(name: str, experiments: list[ExperimentConfig], out: Path) -> Path:
    from llem.run.study import run_study

    result = run_study(study(name, experiments), out_dir=out, progress=False)
    assert result.status == "complete", [r.error for r in result.failures]
    return Path(result.run_dir)


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both fixture studies, built once on the fake machine:
    offline, 4 configurations (batch size x max_new_tokens) x 3 cycles; serving,
    6 configurations (batch size x Poisson rate) x 3 cycles with an SLO."""
    with fake_machine(tmp_path_factory):
        return {
            "offline": _run(
                "offline",
                [experiment(b, n) for b, n in OFFLINE_GRID],
                tmp_path_factory.mktemp("runs"),
            ),
            "serving": _run(
                "serving",
                [serving_experiment(b, r) for b, r in SERVING_GRID],
                tmp_path_factory.mktemp("runs"),
            ),
        }


@pytest.fixture(scope="session")
def offline_run(fixture_runs: dict[str, Path]) -> Path:
    return fixture_runs["offline"]


@pytest.fixture(scope="session")
def serving_run(fixture_runs: dict[str, Path]) -> Path:
    return fixture_runs["serving"]


@pytest.fixture(scope="session")
def serving_report(serving_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``llem report`` of the serving study in every format."""
    pytest.importorskip("matplotlib")
    from llem.report.render import FORMATS, render_report

    return render_report(serving_run, tmp_path_factory.mktemp("report"), FORMATS)
