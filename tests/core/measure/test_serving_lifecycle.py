"""Serving mode through the real lifecycle: fake NVML machine, the fake streaming engine."""

from __future__ import annotations

import math

import attrs
import pyarrow.parquet as pq
import pytest
from llem.config.schema import LoadConfig, SloConfig

from tests.core.measure.test_lifecycle import make_cfg, run
from tests.fakes.backend import FakeBackendConfig

SERVING = LoadConfig(mode="serving", arrival="poisson", rate=200.0, warmup_requests=2)
SLO = SloConfig(ttft_s=0.5, tpot_s=0.05)


def serving_cfg(load=SERVING, slo=SLO, **fake):  # type: ignore[no-untyped-def]
    engine = {"batch_size": 4, "prefill_s": 0.01, "step_s": 0.004, **fake}
    cfg = make_cfg(FakeBackendConfig(**engine))
    return attrs.evolve(cfg, load=load, slo=slo, dataset=attrs.evolve(cfg.dataset, num_prompts=40))


def test_a_serving_run_reports_load_windows_slo_and_one_row_per_request(
    fake_nvml, fake_registry, tmp_path
):
    fake_nvml.configure(gpus=[{"power_w": 70.0}])
    result = run(serving_cfg(), fake_registry, tmp_path)
    assert result.status == "ok", result.error
    load = result.load
    assert load.requests_sent == 40 and load.requests_failed == 0
    assert load.offered_rate_rps == 200.0
    assert load.achieved_rate_rps == pytest.approx(200.0, rel=0.5)  # 40 Poisson arrivals
    assert load.send_error_ms.p99 < 5.0
    whole, steady = result.whole_run, result.steady_state
    assert whole.energy_j == pytest.approx(result.energy.gpu_j, rel=1e-9)
    assert 0 < steady.duration_s < whole.duration_s and steady.energy_j < whole.energy_j
    assert steady.energy_per_output_token_j > 0 and steady.level >= 1
    assert result.slo.attainment is not None and 0 <= result.slo.attainment <= 1
    assert result.slo.goodput_rps == pytest.approx(
        result.slo.good_requests / result.performance.duration_s
    )
    table = pq.read_table(tmp_path / result.requests_file).to_pydict()
    assert len(table["request_id"]) == 40
    assert math.fsum(table["energy_j"]) == pytest.approx(result.energy.gpu_j, rel=1e-3)
    assert all(f <= e for f, e in zip(table["first_token_s"], table["finish_s"], strict=True))
    assert set(table["met_slo"]) <= {True, False}
    assert result.energy.request_j.p50 > 0
    assert result.energy.prefill_j + result.energy.decode_j == pytest.approx(result.energy.gpu_j)
    assert result.performance.queue_s is not None  # the fake engine says when it scheduled


def test_closed_loop_concurrency_holds_its_level_in_the_steady_state(
    fake_nvml, fake_registry, tmp_path
):
    fake_nvml.configure(gpus=[{"power_w": 70.0}])
    load = LoadConfig(mode="serving", arrival="concurrency", concurrency=3, warmup_requests=0)
    result = run(serving_cfg(load), fake_registry, tmp_path)
    assert result.status == "ok", result.error
    assert result.load.concurrency == 3 and result.load.send_error_ms is None
    assert result.steady_state.level == 3


def test_an_engine_that_cannot_keep_up_is_warned_overloaded(fake_nvml, fake_registry, tmp_path):
    fake_nvml.configure(gpus=[{"power_w": 70.0}])
    load = attrs.evolve(SERVING, rate=2000.0, arrival="constant")
    result = run(serving_cfg(load, batch_size=1), fake_registry, tmp_path)
    assert result.load.overloaded
    assert "overloaded" in [w.code for w in result.warnings]


def test_a_failing_request_is_recorded_and_misses_the_slo(fake_nvml, fake_registry, tmp_path):
    fake_nvml.configure(gpus=[{"power_w": 70.0}])
    result = run(serving_cfg(fail_request=5), fake_registry, tmp_path)
    assert result.status == "ok" and result.load.requests_failed == 1
    table = pq.read_table(tmp_path / result.requests_file).to_pydict()
    row = table["request_id"].index(5)
    assert table["met_slo"][row] is False and "failed request 5" in table["error"][row]
    assert "requests_failed" in [w.code for w in result.warnings]
