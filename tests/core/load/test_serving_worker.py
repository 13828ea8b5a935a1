"""Serving end to end through a real spawned worker and a study: the fake streaming
engine on a simulated GPU, requests.parquet beside the result, results.parquet columns."""

from __future__ import annotations

import attrs
import pyarrow.parquet as pq
import pytest
from llem.config.schema import LoadConfig, SloConfig
from llem.run.worker import run_in_worker

from tests.core.run.test_worker import machine, make_cfg  # noqa: F401  (fixture)
from tests.fakes.backend import FakeBackendConfig


def test_a_serving_experiment_runs_in_a_spawned_worker(machine, tmp_path):  # noqa: F811
    machine(gpus=[{}])
    cfg = make_cfg(FakeBackendConfig(batch_size=4, prefill_s=0.01, step_s=0.005))
    cfg = attrs.evolve(
        cfg,
        dataset=attrs.evolve(cfg.dataset, num_prompts=30),
        load=LoadConfig(mode="serving", arrival="gamma", rate=100.0, burstiness=0.5),
        slo=SloConfig(ttft_s=1.0),
    )
    result = run_in_worker(cfg, experiment_id="srv-c1", cycle=1, run_dir=tmp_path, timeout_s=120)
    assert result.status == "ok", result.error
    assert result.load.requests_sent == 30 and result.load.arrival == "gamma"
    assert result.energy.meter == "nvml" and result.whole_run.energy_j == pytest.approx(
        result.energy.gpu_j
    )
    rows = pq.read_table(tmp_path / result.requests_file).to_pydict()
    assert len(rows["energy_j"]) == 30
    assert sum(rows["energy_j"]) == pytest.approx(result.energy.gpu_j, rel=1e-3)
    assert result.slo.attainment is not None
