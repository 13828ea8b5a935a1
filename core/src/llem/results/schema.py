"""Result classes. Unstructured by the one converter (llem.converter); versioned.

Energy fields are measured or None; when None, ``Energy.null_reason`` or a measurement
warning says why. A failed experiment is a result too (``status == "failed"``).
Durations are seconds, energies joules, powers watts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from llem.interfaces import EnergyReading

SCHEMA_VERSION = 1


@attrs.frozen
class GpuInfo:
    cuda_index: int
    nvml_index: int
    uuid: str
    pci_bus_id: str
    name: str
    memory_total_bytes: int
    compute_capability: str | None = None
    persistence_mode: bool | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    max_sm_clock_mhz: int | None = None


@attrs.frozen
class Environment:
    gpus: tuple[GpuInfo, ...]
    driver_version: str | None
    cuda_driver_version: str | None
    cuda_visible_devices: str | None
    cpu_model: str
    cpu_count: int
    ram_bytes: int
    hostname: str
    platform: str
    python: str
    llem_version: str
    plugin_versions: Mapping[str, str] = attrs.field(factory=dict)
    engine_versions: Mapping[str, str] = attrs.field(factory=dict)  # torch, vllm, ...
    gpu_unavailable_reason: str | None = None


@attrs.frozen
class Workload:
    dataset: str
    num_prompts: int
    input_tokens: int
    output_tokens: int
    mean_input_tokens: float
    mean_output_tokens: float


@attrs.frozen
class LatencyStats:
    """Seconds. None when the backend could not time the quantity."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None


@attrs.frozen
class Performance:
    duration_s: float
    tokens_per_second: float
    requests_per_second: float
    ttft_s: LatencyStats
    itl_s: LatencyStats  # inter-token latency (TPOT)
    latency_s: LatencyStats  # end to end per request
    timing_source: str = "measured"


@attrs.frozen
class Energy:
    meter: str | None
    method: str | None
    total_j: float | None  # primary meter, all measured GPUs (+ CPU/DRAM if it has them)
    gpu_j: float | None
    per_device_j: Mapping[str, float] | None  # by GPU UUID
    cpu_j: float | None
    dram_j: float | None
    baseline_power_w: float | None  # idle power of the measured GPUs, summed
    adjusted_j: float | None  # gpu_j minus baseline_power_w x window
    energy_per_output_token_j: float | None
    adjusted_energy_per_output_token_j: float | None
    prefill_j: float | None
    decode_j: float | None
    phase_split_rule: str | None
    accuracy_bound_j: float | None  # +-5 W per GPU x window
    mean_power_w: float | None
    co2_kg: float | None = None
    readings: tuple[EnergyReading, ...] = ()  # primary first, then cross-checks
    cross_check_rel_diff: Mapping[str, float] = attrs.field(factory=dict)
    null_reason: str | None = None
    baseline_source: str | None = None  # "measured (30 s)" or "cache (...)"
    phase_split_null_reason: str | None = None  # why prefill_j/decode_j are None
    prefill_s: float | None = None  # time counted as prefill by phase_split_rule
    co2_details: Mapping[str, Any] = attrs.field(factory=dict)  # from estimate_co2


@attrs.frozen
class Phases:
    baseline_s: float | None
    load_s: float | None
    warmup_s: float | None
    thermal_floor_s: float | None
    window_s: float | None


@attrs.frozen
class Flops:
    """Reference only: 2 x parameters x tokens (PaLM), plus attention when known."""

    total: float | None
    per_output_token: float | None
    method: str
    confidence: Literal["high", "medium", "low"]


@attrs.frozen
class WarmupOutcome:
    runs: int
    durations_s: tuple[float, ...]
    cv: float | None
    converged: bool | None


@attrs.frozen
class MeasurementWarning:
    code: str  # short_window, persistence_off, thermal_drift, few_samples, ...
    message: str
    fix: str


@attrs.frozen
class Failure:
    kind: str  # exception | crash | timeout | interrupted | preflight
    message: str
    exit_code: int | None = None
    signal: int | None = None
    traceback_tail: str | None = None


@attrs.frozen
class ExperimentResult:
    id: str
    config_hash: str
    config: Mapping[str, Any]  # the resolved experiment config as plain data
    cycle: int
    status: Literal["ok", "failed"]
    started_at: str  # ISO 8601, UTC
    ended_at: str
    name: str | None = None
    environment: Environment | None = None
    workload: Workload | None = None
    performance: Performance | None = None
    energy: Energy | None = None
    phases: Phases | None = None
    flops: Flops | None = None
    warmup: WarmupOutcome | None = None
    timeseries_file: str | None = None  # relative to the run directory
    warnings: tuple[MeasurementWarning, ...] = ()
    error: Failure | None = None
    schema_version: int = SCHEMA_VERSION


@attrs.frozen
class MetricSummary:
    """One metric of one configuration across its cycles."""

    n: int
    mean: float | None
    median: float | None
    std: float | None
    min: float | None
    max: float | None
    cv: float | None
    ci_low: float | None
    ci_high: float | None
    ci_note: str | None = None


@attrs.frozen
class ConfigAggregate:
    config_hash: str
    name: str | None
    params: Mapping[str, Any]  # the parameters that vary across the study
    cycles_ok: int
    cycles_failed: int
    metrics: Mapping[str, MetricSummary]


@attrs.frozen
class StudyResult:
    name: str
    run_dir: str
    status: Literal["complete", "failed", "interrupted"]
    started_at: str
    ended_at: str
    experiments: tuple[ExperimentResult, ...]
    aggregates: tuple[ConfigAggregate, ...] = ()
    pareto_front: tuple[str, ...] = ()  # config hashes
    pareto_axes: tuple[str, str] = ("energy_per_output_token_j", "itl_mean_s")
    schema_version: int = SCHEMA_VERSION

    @property
    def failures(self) -> tuple[ExperimentResult, ...]:
        return tuple(r for r in self.experiments if r.status == "failed")

    def pareto(
        self, metric: str = "itl_mean_s", energy: str = "energy_per_output_token_j"
    ) -> tuple[ConfigAggregate, ...]:
        """The configurations on the (energy, ``metric``) Pareto front, by increasing
        energy: those no other configuration beats on both (means across cycles).
        Latencies are minimised, throughputs (tokens_per_second, requests_per_second)
        maximised; metric names are those of llem.analysis.metrics.METRICS."""
        from llem.analysis.pareto import study_pareto

        return study_pareto(self, metric, energy)
