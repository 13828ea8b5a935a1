"""A whole llem experiment measured by codecarbon, through the real worker and lifecycle
(CPU, the built-in tiny model): energy and CO2 arrive in the result, nothing lands in cwd."""

from __future__ import annotations

import pytest
from llem.config.schema import (
    BaselineConfig,
    CarbonConfig,
    DatasetConfig,
    EnergyConfig,
    ExecutionConfig,
    ExperimentConfig,
    GenerationConfig,
    WarmupConfig,
)

pytestmark = pytest.mark.slow


def test_codecarbon_measures_a_tiny_model_run_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("llem_pytorch")
    api = pytest.importorskip("llem.run.api")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("LLEM_PLUGINS", raising=False)
    cfg = ExperimentConfig(
        model="builtin:tiny-llama",
        backend="pytorch",
        weights="random",
        precision="fp32",
        dataset=DatasetConfig(num_prompts=2, input_len=8),
        generation=GenerationConfig(max_new_tokens=4),
        warmup=WarmupConfig(runs=0, thermal_floor_s=0),
        baseline=BaselineConfig(enabled=False),
        energy=EnergyConfig(meter="codecarbon"),
        carbon=CarbonConfig(country_iso_code="FRA"),
        devices=(),
        execution=ExecutionConfig(cycles=1, config_gap_s=0, cycle_gap_s=0),
    )
    result = api.run_experiment(cfg, out_dir=tmp_path / "results", progress=False)
    assert result.status == "ok", result.error
    (reading,) = result.energy.readings
    assert reading.meter == "codecarbon" and reading.method == "estimate"
    assert reading.cpu_j > 0 and reading.dram_j > 0 and reading.co2_kg > 0
    assert reading.details["country_iso_code"] == "FRA"
    assert result.energy.co2_kg is not None
    assert list(cwd.iterdir()) == []
