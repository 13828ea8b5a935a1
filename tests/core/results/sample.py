"""Complete results for results-layer tests (every section filled in)."""

from __future__ import annotations

from llem import EnergyReading
from llem.results.schema import (
    Energy,
    Environment,
    ExperimentResult,
    Failure,
    Flops,
    GpuInfo,
    LatencyStats,
    MeasurementWarning,
    Performance,
    Phases,
    StudyResult,
    WarmupOutcome,
    Workload,
)

LAT = LatencyStats(0.1, 0.1, 0.2, 0.3)


def sample_result(
    rid: str = "abc123def456-c1", batch: int = 8, cycle: int = 1, status: str = "ok"
) -> ExperimentResult:
    config = {
        "model": "builtin:tiny-llama",
        "backend": "pytorch",
        "devices": [0],
        "pytorch": {"batch_size": batch},
        "energy": {"cross_check": []},
    }
    if status != "ok":
        return ExperimentResult(
            id=rid,
            config_hash=rid[:12],
            config=config,
            cycle=cycle,
            status="failed",
            started_at="t0",
            ended_at="t1",
            error=Failure("crash", "worker died", signal=9),
        )
    reading = EnergyReading(
        meter="nvml",
        method="energy_counter",
        gpu_j={"GPU-a": 100.0},
        resolution_s=0.1,
        details={"window_s": 10.0, "m": {"GPU-a": "x"}},
    )
    return ExperimentResult(
        id=rid,
        config_hash=rid[:12],
        config=config,
        cycle=cycle,
        status="ok",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:01:00+00:00",
        name="n",
        environment=Environment(
            gpus=(GpuInfo(0, 0, "GPU-a", "00000000:17:00.0", "H100", 80, "9.0", True, 700.0),),
            driver_version="580",
            cuda_driver_version="13.0",
            cuda_visible_devices=None,
            cpu_model="cpu",
            cpu_count=2,
            ram_bytes=1,
            hostname="h",
            platform="p",
            python="3.12",
            llem_version="0.1.0",
            plugin_versions={"pytorch": "0.1"},
            engine_versions={"torch": "2.11"},
        ),
        workload=Workload("synthetic", 8, 2048, 1024, 256.0, 128.0),
        performance=Performance(10.0, 102.4, 0.8, LAT, LAT, LAT),
        energy=Energy(
            meter="nvml",
            method="energy_counter",
            total_j=100.0,
            gpu_j=100.0,
            per_device_j={"GPU-a": 100.0},
            cpu_j=None,
            dram_j=None,
            baseline_power_w=70.0,
            adjusted_j=-600.0,
            energy_per_output_token_j=100 / 1024,
            adjusted_energy_per_output_token_j=None,
            prefill_j=20.0,
            decode_j=80.0,
            phase_split_rule="rule",
            accuracy_bound_j=50.0,
            mean_power_w=10.0,
            readings=(reading,),
            cross_check_rel_diff={"zeus": 0.001},
            baseline_source="cache",
            co2_details={"g": 1},
        ),
        phases=Phases(30.0, 1.0, 5.0, 60.0, 10.0),
        flops=Flops(1e12, 1e9, "palm_2N_per_token", "medium"),
        warmup=WarmupOutcome(5, (1.0, 1.0), 0.01, None),
        timeseries_file=f"experiments/{rid}/timeseries.parquet",
        warnings=(MeasurementWarning("short_window", "m", "f"),),
    )


def sample_study() -> StudyResult:
    return StudyResult(
        name="s",
        run_dir="/r",
        status="failed",
        started_at="a",
        ended_at="b",
        experiments=(sample_result(), sample_result("fff-c1", status="failed")),
    )
