"""Hand-made ExperimentResults for study and analysis tests (no worker, no model).

Only the figures the study layer reads are filled in; everything else is None, the way
a result from a machine without the corresponding capability looks.
"""

from __future__ import annotations

from llem.results.schema import (
    Energy,
    ExperimentResult,
    Failure,
    LatencyStats,
    Performance,
)

_NONE_LAT = LatencyStats(None, None, None, None)


def make_result(
    config_hash: str = "aaaaaaaaaaaa",
    cycle: int = 1,
    *,
    energy_per_token: float | None = 0.5,
    tokens_per_second: float = 100.0,
    ttft: float | None = 0.05,
    itl: float | None = 0.01,
    status: str = "ok",
    name: str | None = None,
) -> ExperimentResult:
    if status != "ok":
        return ExperimentResult(
            id=f"{config_hash}-c{cycle}",
            config_hash=config_hash,
            config={},
            cycle=cycle,
            status="failed",
            started_at="2026-01-01T00:00:00+00:00",
            ended_at="2026-01-01T00:00:01+00:00",
            name=name,
            error=Failure(kind="crash", message="worker died", signal=9),
        )
    perf = Performance(
        duration_s=10.0,
        tokens_per_second=tokens_per_second,
        requests_per_second=tokens_per_second / 100,
        ttft_s=LatencyStats(ttft, ttft, ttft, ttft) if ttft is not None else _NONE_LAT,
        itl_s=LatencyStats(itl, itl, itl, itl) if itl is not None else _NONE_LAT,
        latency_s=_NONE_LAT,
    )
    energy = Energy(
        meter="nvml" if energy_per_token is not None else None,
        method="energy_counter" if energy_per_token is not None else None,
        total_j=None,
        gpu_j=None,
        per_device_j=None,
        cpu_j=None,
        dram_j=None,
        baseline_power_w=None,
        adjusted_j=None,
        energy_per_output_token_j=energy_per_token,
        adjusted_energy_per_output_token_j=None,
        prefill_j=None,
        decode_j=None,
        phase_split_rule=None,
        accuracy_bound_j=None,
        mean_power_w=None,
        null_reason=None if energy_per_token is not None else "no NVIDIA GPU",
    )
    return ExperimentResult(
        id=f"{config_hash}-c{cycle}",
        config_hash=config_hash,
        config={},
        cycle=cycle,
        status="ok",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:10+00:00",
        name=name,
        performance=perf,
        energy=energy,
    )
