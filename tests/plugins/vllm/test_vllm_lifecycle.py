"""A whole llem experiment with backend vllm (fake engine) through the real lifecycle."""

from __future__ import annotations

import pytest
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    EnergyConfig,
    ExperimentConfig,
    GenerationConfig,
    WarmupConfig,
)
from llem_vllm.config import VllmConfig
from llem_vllm.timing import SOURCE_METRICS
from llem_vllm_testutil import tiny_model

lifecycle = pytest.importorskip("llem.measure.lifecycle")
pytestmark = pytest.mark.usefixtures("fake_vllm")


def quick(**kw) -> ExperimentConfig:
    return ExperimentConfig(
        model=tiny_model(),
        backend="vllm",
        weights="random",
        sections={"vllm": VllmConfig(max_num_seqs=4)},
        dataset=DatasetConfig(num_prompts=12, input_len=16),
        generation=GenerationConfig(max_new_tokens=8),
        warmup=WarmupConfig(runs=1, thermal_floor_s=0),
        baseline=BaselineConfig(enabled=False),
        energy=EnergyConfig(meter=None),
        **kw,
    )


def test_an_experiment_runs_end_to_end_with_request_metrics(tmp_path):
    from llem.plugins import load_registry

    result = lifecycle.run_experiment(
        quick(), experiment_id="e-c0", cycle=0, run_dir=tmp_path, registry=load_registry("vllm")
    )
    assert result.status == "ok", result.error
    assert result.workload.num_prompts == 12 and result.workload.output_tokens == 12 * 8
    perf = result.performance
    assert perf.tokens_per_second > 0
    assert perf.ttft_s.mean is not None and perf.ttft_s.mean > 0
    assert SOURCE_METRICS in perf.timing_source


def test_the_spawned_worker_finds_the_fake_engine(tmp_path):
    worker = pytest.importorskip("llem.run.worker")
    result = worker.run_in_worker(
        quick(), experiment_id="w-c0", cycle=0, run_dir=tmp_path, timeout_s=120
    )
    assert result.status == "ok", result.error
    assert result.performance.ttft_s.mean is not None
