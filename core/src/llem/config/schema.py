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


def _positive(_inst: Any, attr: attrs.Attribute, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value}")


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

    def __attrs_post_init__(self) -> None:
        if self.source == "jsonl" and not self.path:
            raise ValueError("dataset.path is required when dataset.source is 'jsonl'")
        if (self.input_len_min is None) != (self.input_len_max is None):
            raise ValueError("set both dataset.input_len_min and dataset.input_len_max, or neither")
        if self.input_len_min is not None and self.input_len_min > self.input_len_max:  # type: ignore[operator]
            raise ValueError(
                f"dataset.input_len_min ({self.input_len_min}) must be <= "
                f"dataset.input_len_max ({self.input_len_max})"
            )


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
class ExecutionConfig:
    """How a study runs its experiments."""

    cycles: int = attrs.field(default=3, validator=v.ge(1))
    order: Order = "interleaved"
    seed: int = 0
    config_gap_s: float = attrs.field(default=60.0, validator=v.ge(0))
    cycle_gap_s: float = attrs.field(default=120.0, validator=v.ge(0))
    timeout_s: float | None = attrs.field(default=3600.0, validator=_positive)
    retries: int = attrs.field(default=0, validator=v.ge(0))


@attrs.frozen
class OutputConfig:
    dir: str = "results"
    sinks: tuple[str, ...] = ("json", "parquet")
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
    extra: Mapping[str, Any] = attrs.field(factory=dict)
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
