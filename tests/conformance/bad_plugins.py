"""The plugins a new plugin author once wrote that passed the conformance suite although
each was wrong (issue 16); test_plugin_contract.py proves the suite now fails them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import attrs
from llem.plugin import (
    Backend,
    Device,
    EnergyReading,
    GenerationConfig,
    Meter,
    Request,
    RequestRecord,
    Sink,
    hookimpl,
)


@attrs.frozen
class IgnoredConfig:
    step_ms: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))


class IgnoringBackend(Backend[IgnoredConfig]):
    """Declares ``step_ms`` but builds its own defaults and never looks at the section."""

    name = "bad_ignoring"

    def __init__(self, section: IgnoredConfig | None = None) -> None:
        super().__init__(None)  # the section it was given is dropped

    def load(self, cfg: Any, devices: Sequence[Device]) -> None:
        self.vocab_size = 100

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        start = time.perf_counter_ns()
        end = time.perf_counter_ns()
        return [
            RequestRecord(
                request_id=r.id,
                input_tokens=len(r.input_ids or ()),
                output_tokens=r.max_new_tokens,
                t_submit_ns=start,
                t_first_token_ns=start,
                t_end_ns=end,
            )
            for r in requests
        ]


class ZeroMeter(Meter):
    """Reports 0 J for a window it never measured."""

    name = "bad_zero"

    def start(self, devices: Sequence[Device]) -> None:
        pass

    def stop(self) -> EnergyReading:
        return EnergyReading(meter=self.name, method="estimate", gpu_j=None, cpu_j=0.0, notes=("",))


class SilentSink(Sink):
    """Accepts every result and writes nothing."""

    name = "bad_silent"


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(IgnoringBackend)


@hookimpl
def register_meters(register):  # type: ignore[no-untyped-def]
    register(ZeroMeter)


@hookimpl
def register_sinks(register):  # type: ignore[no-untyped-def]
    register(SilentSink)
