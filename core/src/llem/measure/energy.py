"""The Energy section of a result, from the meters' readings of the window.

- ``total_j``: the primary meter's GPU energy plus its CPU and DRAM energy where it has
  them; ``energy_per_output_token_j`` = total_j / output tokens (the primary metric).
- ``adjusted_j``: GPU energy minus the idle baseline power x window: what the workload
  added on the GPUs; None without a baseline for every GPU.
- ``accuracy_bound_j``: NVIDIA specifies board power to +-5 W, so +-5 W x window per GPU.
- ``prefill_j``/``decode_j``/``request_j``: by llem.measure.attribution (its rule is
  ``phase_split_rule``); ``idle_j`` = baseline power x window, shown apart.
- ``cross_check_rel_diff``: (cross - primary) / primary GPU energy per cross-check meter
  (total energy where neither measured GPUs).
Nothing is ever 0 for "unknown": a missing figure is None and ``null_reason`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llem.interfaces import EnergyReading
from llem.measure.attribution import Attribution
from llem.measure.baseline import Baseline
from llem.measure.performance import latency_stats
from llem.results.schema import Energy, RequestEnergy

ACCURACY_W_PER_GPU = 5.0


def reading_total(reading: EnergyReading) -> float | None:
    parts = [reading.gpu_total_j, reading.cpu_j, reading.dram_j]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def cross_check_diffs(
    primary: EnergyReading | None, cross: Sequence[EnergyReading]
) -> dict[str, float]:
    out: dict[str, float] = {}
    if primary is None:
        return out
    for reading in cross:
        base, other = primary.gpu_total_j, reading.gpu_total_j
        if base is None or other is None:
            base, other = reading_total(primary), reading_total(reading)
        if base and other is not None:
            out[reading.meter] = (other - base) / base
    return out


def null_energy(reason: str, readings: Sequence[EnergyReading] = ()) -> Energy:
    return Energy(
        meter=None,
        method=None,
        total_j=None,
        gpu_j=None,
        per_device_j=None,
        cpu_j=None,
        dram_j=None,
        baseline_power_w=None,
        adjusted_j=None,
        energy_per_output_token_j=None,
        adjusted_energy_per_output_token_j=None,
        prefill_j=None,
        decode_j=None,
        phase_split_rule=None,
        accuracy_bound_j=None,
        mean_power_w=None,
        readings=tuple(readings),
        null_reason=reason,
    )


def derive_energy(
    primary: EnergyReading,
    cross: Sequence[EnergyReading],
    *,
    window_s: float,
    num_gpus: int,
    baseline: Baseline | None,
    device_uuids: Sequence[str],
    output_tokens: int,
    split: Attribution,
    co2: tuple[float, Mapping[str, Any]] | None,
) -> Energy:
    gpu_j = primary.gpu_total_j
    total_j = reading_total(primary)
    base_w = baseline_power(baseline, device_uuids)
    adjusted = gpu_j - base_w * window_s if gpu_j is not None and base_w is not None else None
    co2_kg = primary.co2_kg if primary.co2_kg is not None else (co2[0] if co2 else None)
    null_reason = None
    if total_j is None:
        null_reason = f"the {primary.meter} meter returned no energy" + (
            f": {'; '.join(primary.notes)}" if primary.notes else ""
        )
    return Energy(
        meter=primary.meter,
        method=primary.method,
        total_j=total_j,
        gpu_j=gpu_j,
        per_device_j=dict(primary.gpu_j) if primary.gpu_j is not None else None,
        cpu_j=primary.cpu_j,
        dram_j=primary.dram_j,
        baseline_power_w=base_w,
        adjusted_j=adjusted,
        energy_per_output_token_j=_per(total_j, output_tokens),
        adjusted_energy_per_output_token_j=_per(adjusted, output_tokens),
        prefill_j=split.prefill_j,
        decode_j=split.decode_j,
        phase_split_rule=split.rule,
        accuracy_bound_j=(ACCURACY_W_PER_GPU * num_gpus * window_s if gpu_j is not None else None),
        mean_power_w=gpu_j / window_s if gpu_j is not None and window_s > 0 else None,
        co2_kg=co2_kg,
        readings=(primary, *cross),
        cross_check_rel_diff=cross_check_diffs(primary, cross),
        null_reason=null_reason,
        baseline_source=_baseline_source(baseline),
        phase_split_null_reason=split.split_null_reason,
        co2_details=dict(co2[1]) if co2 and primary.co2_kg is None else {},
        request_j=request_energy(split),
        idle_j=base_w * window_s if base_w is not None else None,
    )


def request_energy(split: Attribution) -> RequestEnergy | None:
    """J/request statistics of an attribution (None when it has none)."""
    if split.null_reason is not None or not split.request_j:
        return None
    stats = latency_stats(list(split.request_j.values()))
    return RequestEnergy(
        mean=stats.mean,
        p50=stats.p50,
        p90=stats.p90,
        p99=stats.p99,
        sum_j=sum(split.request_j.values()),
        idle_j=sum(split.request_idle_j.values()) if split.request_idle_j else None,
        gap_j=split.gap_j,
    )


def _per(value: float | None, tokens: int) -> float | None:
    return value / tokens if value is not None and tokens > 0 else None


def baseline_power(baseline: Baseline | None, uuids: Sequence[str]) -> float | None:
    if baseline is None or not uuids or any(u not in baseline.per_device_w for u in uuids):
        return None
    return sum(baseline.per_device_w[u] for u in uuids)


def _baseline_source(baseline: Baseline | None) -> str | None:
    if baseline is None:
        return None
    if baseline.source == "cache":
        return f"cache ({baseline.duration_s:g} s measured at epoch {baseline.measured_at:.0f})"
    settled = "" if baseline.settled else ", still drifting"
    return f"measured ({baseline.duration_s:g} s{settled})"
