"""The core configuration classes. Plugins contribute their own section classes.

Defaults are the methodology a reviewer would accept; legal shortcuts that weaken a
measurement (short thermal floor, no baseline, one cycle) are allowed and become
measurement warnings in the result, never errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs
from attrs import validators as v

Weights = Literal["pretrained", "random"]
Precision = Literal["fp32", "fp16", "bf16"]
Order = Literal["sequential", "interleaved", "shuffled"]
Runner = Literal["local", "docker"]
LengthDist = Literal["fixed", "uniform", "lognormal"]
Arrival = Literal["poisson", "gamma", "constant", "concurrency", "trace"]


def _runner(_inst: Any, attribute: Any, value: Any) -> None:
    choices = ("local", "docker")
    values = value.values() if isinstance(value, Mapping) else [value]
    bad = [r for r in values if r not in choices]
    if bad:
        raise ValueError(f"{attribute.name}: {bad[0]!r} is not a runner; use one of {choices}")


def _positive(_inst: Any, attr: attrs.Attribute, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value}")


def _parallel(_inst: Any, _attr: attrs.Attribute, value: int | str) -> None:
    if isinstance(value, int) and value < 1:
        raise ValueError(f"parallel must be 'none', 'per_gpu' or a GPU count >= 1, got {value}")


def _device_indices(_inst: Any, attr: attrs.Attribute, value: tuple[int, ...]) -> None:
    """CUDA ordinals as the worker sees them: >= 0, each once (empty: CPU)."""
    if any(i < 0 for i in value) or len(set(value)) != len(value):
        raise ValueError(f"devices must be distinct CUDA indices >= 0, got {list(value)}")


@attrs.frozen
class DatasetConfig:
    """Where prompts come from: seeded synthetic tokens, a JSONL file, or AIEnergyScore."""

    source: Literal["synthetic", "jsonl", "aienergyscore"] = "synthetic"
    path: str | None = None
    num_prompts: int = attrs.field(default=64, validator=v.ge(1))
    input_len: int = attrs.field(default=256, validator=v.ge(1))
    # synthetic only: uniform spread of input lengths in [input_len_min, input_len_max]
    input_len_min: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    input_len_max: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    seed: int = 0
    # Length distributions (docs/serving.md). input_dist None: uniform when input_len_min/
    # max are set, else fixed (input_len). output_len None: generation.max_new_tokens for
    # every request. lognormal: median input_len/output_len, sigma, clipped to min/max.
    input_dist: LengthDist | None = None
    input_sigma: float = attrs.field(default=0.5, validator=v.gt(0))
    output_dist: LengthDist = "fixed"
    output_len: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    output_len_min: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    output_len_max: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    output_sigma: float = attrs.field(default=0.5, validator=v.gt(0))

    def __attrs_post_init__(self) -> None:
        if self.output_dist != "fixed" and self.output_len is None:
            raise ValueError(f"dataset.output_dist {self.output_dist!r} needs dataset.output_len")
        if self.output_dist == "uniform" and (
            self.output_len_min is None or self.output_len_max is None
        ):
            raise ValueError("dataset.output_dist uniform needs output_len_min and output_len_max")
        if self.input_dist == "uniform" and self.input_len_min is None:
            raise ValueError("dataset.input_dist uniform needs input_len_min and input_len_max")
        if self.source == "jsonl" and not self.path:
            raise ValueError("dataset.path is required when dataset.source is 'jsonl'")
        if (self.input_len_min is None) != (self.input_len_max is None):
            raise ValueError("set both dataset.input_len_min and dataset.input_len_max, or neither")
        if self.input_len_min is not None and self.input_len_min > self.input_len_max:  # type: ignore[operator]
            raise ValueError(
                f"dataset.input_len_min ({self.input_len_min}) must be <= "
                f"dataset.input_len_max ({self.input_len_max})"
            )
        low, high = self.output_len_min, self.output_len_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"dataset.output_len_min ({low}) must be <= output_len_max ({high})")


@attrs.frozen
class GenerationConfig:
    """Decoding settings. Fixed-length generation by default so runs compare."""

    max_new_tokens: int = attrs.field(default=128, validator=v.ge(1))
    min_new_tokens: int | None = attrs.field(default=None, validator=v.optional(v.ge(0)))
    ignore_eos: bool = True
    do_sample: bool = False
    temperature: float = attrs.field(default=1.0, validator=v.gt(0))
    top_p: float = attrs.field(default=1.0, validator=[v.gt(0), v.le(1)])
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.min_new_tokens is not None and self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"generation.min_new_tokens ({self.min_new_tokens}) must be <= "
                f"generation.max_new_tokens ({self.max_new_tokens})"
            )

    @property
    def fixed_min_new_tokens(self) -> int:
        """min_new_tokens, defaulting to max_new_tokens (fixed-length generation)."""
        return self.max_new_tokens if self.min_new_tokens is None else self.min_new_tokens


@attrs.frozen
class WarmupConfig:
    """Warmup before the window, then the thermal floor (a sleep) to settle the GPU."""

    runs: int = attrs.field(default=5, validator=v.ge(0))
    mode: Literal["full", "fast"] = "full"  # fast: 1 new token per warmup request
    cv_target: float | None = attrs.field(default=None, validator=_positive)
    max_runs: int = attrs.field(default=20, validator=v.ge(1))
    thermal_floor_s: float = attrs.field(default=60.0, validator=v.ge(0))

    def __attrs_post_init__(self) -> None:
        if self.cv_target is not None and self.max_runs < self.runs:
            raise ValueError(
                f"warmup.max_runs ({self.max_runs}) must be >= warmup.runs ({self.runs})"
            )


@attrs.frozen
class BaselineConfig:
    """Idle power measured before loading, subtracted to give adjusted energy."""

    enabled: bool = True
    duration_s: float = attrs.field(default=30.0, validator=v.gt(0))
    cache_ttl_s: float = attrs.field(default=3600.0, validator=v.ge(0))
    max_settle_s: float = attrs.field(default=60.0, validator=v.ge(0))  # wait for cooling


@attrs.frozen
class EnergyConfig:
    """Which meter measures the window, which cross-check it, and the sampler period."""

    meter: str | None = "auto"  # auto | nvml | zeus | codecarbon | <plugin> | None (off)
    cross_check: tuple[str, ...] = ()
    sample_interval_ms: int = attrs.field(default=100, validator=v.ge(10))
    thermal_drift_c: float = attrs.field(default=10.0, validator=v.gt(0))
    min_window_s: float = attrs.field(default=10.0, validator=v.ge(0))


@attrs.frozen
class CarbonConfig:
    """How energy becomes CO2 (needs llem-codecarbon); an estimate, labelled as one."""

    country_iso_code: str | None = None  # e.g. "FRA"; offline intensity lookup
    region: str | None = None
    online: bool = False  # allow codecarbon to look up the location online


@attrs.frozen
class LoadConfig:
    """The shape of the measured window's work (docs/serving.md).

    ``offline`` (the default): every request handed to the engine at once
    (``Backend.generate``). ``serving``: the core's load generator submits requests at
    their planned times through ``Backend.stream``: ``arrival`` poisson, gamma (with
    ``burstiness``: 1 is Poisson, < 1 burstier) and constant at ``rate`` requests/s;
    ``concurrency`` keeps ``concurrency`` requests in flight (closed loop); ``trace``
    replays the arrival times and token lengths of a CSV/JSONL file. The run ends after
    ``duration_s`` or the dataset's ``num_prompts`` requests, whichever comes first.
    """

    mode: Literal["offline", "serving"] = "offline"
    arrival: Arrival = "poisson"
    rate: float | None = attrs.field(default=None, validator=_positive)
    burstiness: float = attrs.field(default=1.0, validator=v.gt(0))
    concurrency: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    trace: str | None = None
    duration_s: float | None = attrs.field(default=None, validator=_positive)
    seed: int = 0
    warmup_requests: int = attrs.field(default=8, validator=v.ge(0))
    warmup_s: float | None = attrs.field(default=30.0, validator=_positive)  # None: no limit

    def __attrs_post_init__(self) -> None:
        if self.mode != "serving":
            return
        if self.arrival in ("poisson", "gamma", "constant") and self.rate is None:
            raise ValueError(f"load.arrival {self.arrival} needs load.rate (requests/s)")
        if self.arrival == "concurrency" and self.concurrency is None:
            raise ValueError("load.arrival concurrency needs load.concurrency (requests)")
        if self.arrival == "trace" and not self.trace:
            raise ValueError("load.arrival trace needs load.trace (a CSV or JSONL file)")


@attrs.frozen
class SloConfig:
    """Latency targets (seconds) a request must meet to count for goodput; a term left
    None is not part of the SLO. A configuration meets the SLO when the ``percentile``-th
    percentile of every set term is within its target."""

    ttft_s: float | None = attrs.field(default=None, validator=_positive)
    tpot_s: float | None = attrs.field(default=None, validator=_positive)
    e2e_s: float | None = attrs.field(default=None, validator=_positive)
    percentile: float = attrs.field(default=90.0, validator=[v.gt(0), v.le(100)])

    @property
    def terms(self) -> dict[str, float]:
        """The set targets by name (ttft_s, tpot_s, e2e_s)."""
        targets = {"ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "e2e_s": self.e2e_s}
        return {k: t for k, t in targets.items() if t is not None}


AUTO_FIRST_CYCLES = 3  # cycles: auto starts with this many (the fewest that give a CI)


def _cycles(_inst: Any, _attr: attrs.Attribute, value: int | str) -> None:
    if value != "auto" and (not isinstance(value, int) or value < 1):
        raise ValueError(f"cycles must be an integer >= 1 or 'auto', got {value!r}")


@attrs.frozen
class RayConfig:
    """``executor: ray``: which cluster, and which resource stands for a GPU."""

    address: str | None = None  # None: start a local Ray on this machine; "auto": RAY_ADDRESS
    gpu_resource: str = "GPU"  # another name: a custom resource (a stand-in, e.g. in tests)


@attrs.frozen
class SlurmConfig:
    """``executor: slurm`` (submitit): where the jobs go; logs under the run directory."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time_min: int = attrs.field(default=120, validator=v.ge(1))
    cpus_per_task: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    mem_gb: float | None = attrs.field(default=None, validator=_positive)
    setup: tuple[str, ...] = ()  # shell lines run before the job (module load ..., source ...)
    poll_s: float = attrs.field(default=2.0, validator=v.gt(0))


@attrs.frozen
class ExecutionConfig:
    """How a study runs its experiments (where: ``executor``; see docs/executors.md)."""

    cycles: int | Literal["auto"] = attrs.field(default=3, validator=_cycles)
    order: Order = "interleaved"
    seed: int = 0
    config_gap_s: float = attrs.field(default=60.0, validator=v.ge(0))
    cycle_gap_s: float = attrs.field(default=120.0, validator=v.ge(0))
    timeout_s: float | None = attrs.field(default=3600.0, validator=_positive)
    retries: int = attrs.field(default=0, validator=v.ge(0))
    # How an experiment's backend process starts: every backend alike, or per backend
    # ({trtllm: docker}, the rest local). See llem.containers.
    runner: Runner | Mapping[str, Runner] = attrs.field(default="local", validator=_runner)
    images: Mapping[str, str] = attrs.field(factory=dict)  # backend -> docker image
    executor: Literal["local", "ray", "slurm"] = "local"
    # none: one at a time; per_gpu: side by side, each on len(devices) GPUs; N: N GPUs each
    parallel: Literal["none", "per_gpu"] | int = attrs.field(default="none", validator=_parallel)
    isolation: Literal["shared", "exclusive_node"] = "shared"
    max_concurrent: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    ray: RayConfig = RayConfig()
    slurm: SlurmConfig = SlurmConfig()
    target_ci: float = attrs.field(default=0.02, validator=v.gt(0))  # cycles: auto
    max_cycles: int = attrs.field(default=10, validator=v.ge(AUTO_FIRST_CYCLES))
    cooldown: Literal["fixed", "temperature"] = "fixed"
    cooldown_tolerance_c: float = attrs.field(default=2.0, validator=v.gt(0))
    # Experiments of one cycle that share an engine key (llem.config.identity) run one
    # after another in one worker against one loaded engine; false: a process each.
    reuse_engine: bool = True

    @property
    def first_cycles(self) -> int:
        """How many cycles the plan starts with (``auto``: the fewest that give a CI)."""
        return AUTO_FIRST_CYCLES if self.cycles == "auto" else self.cycles


BUILTIN_SINKS = ("json", "parquet")


def _with_builtin_sinks(names: Any) -> tuple[str, ...]:
    """The built-in sinks first, then the user's, each once: ``sinks: [csv]`` adds csv."""
    return tuple(dict.fromkeys((*BUILTIN_SINKS, *names)))


@attrs.frozen
class OutputConfig:
    """Where results go. ``sinks`` names sinks to run *in addition to* the built-in
    ``json`` and ``parquet`` (always written: ``llem results``/``report`` read them);
    listing those two is harmless."""

    dir: str = "results"
    sinks: tuple[str, ...] = attrs.field(default=BUILTIN_SINKS, converter=_with_builtin_sinks)
    save_timeseries: bool = True


@attrs.frozen
class ExperimentConfig:
    """One fully resolved experiment. ``sections`` holds plugin sections by name."""

    model: str
    backend: str = "pytorch"
    weights: Weights = "pretrained"
    precision: Precision = "bf16"
    name: str | None = None
    dataset: DatasetConfig = DatasetConfig()
    generation: GenerationConfig = GenerationConfig()
    warmup: WarmupConfig = WarmupConfig()
    baseline: BaselineConfig = BaselineConfig()
    energy: EnergyConfig = EnergyConfig()
    carbon: CarbonConfig = CarbonConfig()
    devices: tuple[int, ...] = attrs.field(default=(0,), validator=_device_indices)
    execution: ExecutionConfig = ExecutionConfig()
    output: OutputConfig = OutputConfig()
    load: LoadConfig = LoadConfig()
    slo: SloConfig = SloConfig()
    sections: Mapping[str, Any] = attrs.field(factory=dict)

    def section(self, name: str) -> Any:
        """The plugin section ``name`` (its attrs instance), or None if absent."""
        return self.sections.get(name)


@attrs.frozen
class StudyConfig:
    """A study: resolved experiments plus how to run them. A single run is a study of one.

    ``source_text`` is the YAML exactly as loaded (with overrides recorded in
    ``overrides``) so a run directory can be resumed from what it stores.
    """

    name: str
    experiments: tuple[ExperimentConfig, ...]
    execution: ExecutionConfig = ExecutionConfig()
    output: OutputConfig = OutputConfig()
    source_path: str | None = None
    source_text: str | None = None
    overrides: tuple[str, ...] = ()
    profile: str | None = None
