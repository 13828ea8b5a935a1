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

SCHEMA_VERSION = 2  # 2: serving (load, slo, steady_state, whole_run, requests_file)


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
    # Where the backend ran when not in the worker itself: {"kind": "docker", "image",
    # "image_digest", "engine_versions" (in the image), "runtime", "container", "start_s"}.
    runner: Mapping[str, Any] = attrs.field(factory=dict)


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
    # Per-request mean gap (t_end - t_first_token) / (output_tokens - 1); itl_s is then
    # the distribution of every gap between consecutive tokens where token times exist.
    tpot_s: LatencyStats | None = None
    queue_s: LatencyStats | None = None  # engine scheduled - sent, where the engine says


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
    request_j: RequestEnergy | None = None  # J/request by llem.measure.attribution
    meter_choice: str | None = None  # which meter measured and why (energy.meter: auto)
    idle_j: float | None = None  # baseline power x window (shown apart; part of gpu_j)


@attrs.frozen
class RequestEnergy:
    """Energy per request (J), attributed by ``Energy.phase_split_rule``; the requests'
    energies add up to the window's GPU energy. ``idle_j``: the baseline part of them
    all; ``gap_j``: energy of moments with no request in flight, shared pro rata."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    sum_j: float | None
    idle_j: float | None = None
    gap_j: float | None = None


@attrs.frozen
class LoadOutcome:
    """How the serving load went: offered vs achieved rate, the generator's send error
    (actual - planned send time, ms; open loop only), failures, overload."""

    mode: str
    arrival: str
    offered_rate_rps: float | None  # rate, or the trace's mean; None in a closed loop
    achieved_rate_rps: float | None  # requests sent / sending span
    concurrency: int | None
    requests_sent: int
    requests_failed: int
    send_error_ms: LatencyStats | None
    send_error_max_ms: float | None
    overloaded: bool
    in_flight_early: float | None = None  # mean in flight, 2nd quarter of the sending span
    in_flight_late: float | None = None  # ... its last quarter


@attrs.frozen
class WindowEnergy:
    """One window of a serving run: the whole run, or the steady state (the headline).
    Times are seconds from the measured window's start; energy is the GPU energy of
    the attribution intervals inside it (``null_reason`` when there is none)."""

    kind: Literal["whole_run", "steady_state"]
    start_s: float | None
    duration_s: float | None
    energy_j: float | None
    adjusted_j: float | None
    output_tokens: int | None
    energy_per_output_token_j: float | None
    tokens_per_second: float | None
    level: int | None = None  # steady state: the in-flight level held
    rule: str | None = None
    null_reason: str | None = None


@attrs.frozen
class SloOutcome:
    """SLO targets and how the run did: ``attainment`` is the share of requests meeting
    every set term; ``goodput_rps`` those requests per second of the whole run;
    ``goodput_per_kj`` per kJ of its energy; ``met``: the ``percentile``-th percentile of
    every set term is within its target (``observed`` holds those percentiles)."""

    ttft_s: float | None
    tpot_s: float | None
    e2e_s: float | None
    percentile: float
    attainment: float | None
    good_requests: int
    goodput_rps: float | None
    goodput_per_kj: float | None
    met: bool | None
    observed: Mapping[str, float | None] = attrs.field(factory=dict)


@attrs.frozen
class Phases:
    baseline_s: float | None
    load_s: float | None
    warmup_s: float | None
    thermal_floor_s: float | None
    window_s: float | None
    # The experiment whose load started the engine this one ran on
    # (execution.reuse_engine); None: it loaded its own, timed in load_s.
    engine_from: str | None = None


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
    """What weakens a result; every code is in docs/warnings.md (llem.measure.warning_codes).
    ``severity`` "info" reports a condition that is normal (no defect of the result);
    ``details`` holds the figures behind the message (e.g. throttling's shares)."""

    code: str
    message: str
    fix: str
    severity: Literal["warning", "info"] = "warning"
    details: Mapping[str, float] = attrs.field(factory=dict)


@attrs.frozen
class Failure:
    kind: str  # exception | crash | timeout | interrupted | preflight
    message: str
    exit_code: int | None = None
    signal: int | None = None
    traceback_tail: str | None = None


@attrs.frozen
class Placement:
    """Where the experiment ran (llem.run.executors) and who shared its node meanwhile:
    ``neighbours`` are the ids of this study's experiments that ran on the same node at
    some moment of this one's run (they share its CPU, memory, power supply, airflow)."""

    executor: str
    node: str
    gpus: tuple[str, ...] = ()  # UUIDs where known, else the executor's GPU ids
    neighbours: tuple[str, ...] = ()
    exclusive_node: bool = False  # isolation: exclusive_node held the node for it


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
    placement: Placement | None = None  # set by the study session
    # What the backend reports about its run (a backend's ``details`` dict, plain data):
    # llem-server puts the server's command, readiness time and the client's CPU time here.
    backend_details: Mapping[str, Any] = attrs.field(factory=dict)
    # Serving mode (load.mode: serving); None offline.
    load: LoadOutcome | None = None
    slo: SloOutcome | None = None
    whole_run: WindowEnergy | None = None
    steady_state: WindowEnergy | None = None
    requests_file: str | None = None  # requests.parquet, relative to the run directory


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
