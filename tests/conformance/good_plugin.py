"""A plugin written against ``llem.plugin`` only, as a stranger would: a backend, a meter
and a sink, each using the base classes' features (``Backend[Config]``, ``requires``,
``check``). It passes the conformance suite (test_plugin_contract.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from llem.plugin import (
    Backend,
    Device,
    EnergyReading,
    ExperimentConfig,
    GenerationConfig,
    Meter,
    Request,
    RequestRecord,
    Sink,
    Unavailable,
    hookimpl,
)


@attrs.frozen
class StepConfig:
    step_ms: float = attrs.field(default=0.2, validator=attrs.validators.ge(0))
    vocab_size: int = attrs.field(default=1000, validator=attrs.validators.ge(2))


class StepBackend(Backend[StepConfig]):
    """Every request advances one token per step of ``step_ms``, all at once."""

    name = "good_step"

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        self.vocab_size = self.section.vocab_size

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        start = time.perf_counter_ns()
        times: list[int] = []
        for _ in range(max((r.max_new_tokens for r in requests), default=0)):
            time.sleep(self.section.step_ms / 1000)
            times.append(time.perf_counter_ns())
        return [
            RequestRecord(
                request_id=r.id,
                input_tokens=len(r.input_ids or ()),
                output_tokens=r.max_new_tokens,
                t_submit_ns=start,
                t_first_token_ns=times[0] if r.max_new_tokens else None,
                t_end_ns=times[r.max_new_tokens - 1] if r.max_new_tokens else start,
                token_times_ns=tuple(times[: r.max_new_tokens]),
            )
            for r in requests
        ]


@attrs.frozen
class WattConfig:
    assumed_w: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))


class WattMeter(Meter[WattConfig]):
    """CPU energy as an assumed constant power x the window (an estimate, and says so)."""

    name = "good_watt"

    def check(self, devices: Sequence[Device]) -> None:
        if devices:
            raise Unavailable("it measures no GPU", "use a GPU meter (energy.meter: nvml)")

    def start(self, devices: Sequence[Device]) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        return EnergyReading(
            meter=self.name,
            method="estimate",
            gpu_j=None,
            cpu_j=self.section.assumed_w * seconds,
            notes=("no GPU measured; CPU energy assumes a constant power",),
        )


class JsonLinesSink(Sink):
    """results.jsonl: one line (id, status) per experiment."""

    name = "good_jsonl"

    def write_experiment(self, result: Any) -> None:
        with (Path(self.run_dir) / "results.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"id": result.id, "status": result.status}) + "\n")


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(StepBackend)


@hookimpl
def register_meters(register):  # type: ignore[no-untyped-def]
    register(WattMeter)


@hookimpl
def register_sinks(register):  # type: ignore[no-untyped-def]
    register(JsonLinesSink)
