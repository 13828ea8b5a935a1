"""The measurement window: telemetry and meters open around generate + synchronize.

Opening: the telemetry sampler starts (its first sample reads the energy counters),
then every meter starts, primary first; the window's clock starts last. Closing: the
clock stops first, then every meter stops in the same order as it started (so each
meter's window has the same length), then the sampler takes its closing sample.
A meter that fails to stop loses its reading (the error is kept), not the experiment.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import attrs
import structlog

from llem.interfaces import Device, EnergyReading, Meter
from llem.telemetry.sampler import PowerCallback, TelemetrySampler
from llem.telemetry.timeseries import Timeseries

log = structlog.get_logger()


@attrs.frozen
class WindowOutcome:
    t0_ns: int
    t1_ns: int
    readings: dict[str, EnergyReading]  # by meter name
    meter_errors: dict[str, str]
    timeseries: Timeseries | None
    sampler_error: str | None
    power_sources: dict[str, str | None]

    @property
    def duration_s(self) -> float:
        return (self.t1_ns - self.t0_ns) / 1e9


class MeasurementWindow:
    def __init__(
        self,
        devices: Sequence[Device],
        meters: Sequence[Meter],
        interval_s: float,
        on_power: PowerCallback | None = None,
    ) -> None:
        self.devices = tuple(devices)
        self.meters = list(meters)
        self.interval_s = interval_s
        self.on_power = on_power
        self.sampler: TelemetrySampler | None = None
        self._started: list[Meter] = []
        self.t0_ns: int | None = None

    def open(self) -> None:
        try:
            if self.devices:
                self.sampler = TelemetrySampler(
                    self.devices, self.interval_s, announce=True, on_power=self.on_power
                ).start()
            for meter in self.meters:
                meter.start(self.devices)
                self._started.append(meter)
        except BaseException:
            self.abort()
            raise
        self.t0_ns = time.perf_counter_ns()

    def close(self) -> WindowOutcome:
        t1_ns = time.perf_counter_ns()
        if self.t0_ns is None:
            raise RuntimeError("the measurement window was never opened")
        readings: dict[str, EnergyReading] = {}
        errors: dict[str, str] = {}
        for meter in self._started:
            try:
                readings[meter.name] = meter.stop()
            except Exception as exc:
                errors[meter.name] = f"{type(exc).__name__}: {exc}"
                log.error("window.meter_stop_failed", meter=meter.name, error=errors[meter.name])
        self._started = []
        series = self.sampler.stop() if self.sampler is not None else None
        return WindowOutcome(
            t0_ns=self.t0_ns,
            t1_ns=t1_ns,
            readings=readings,
            meter_errors=errors,
            timeseries=series,
            sampler_error=self.sampler.error if self.sampler is not None else None,
            power_sources=self.sampler.power_sources if self.sampler is not None else {},
        )

    def abort(self) -> None:
        """Stop whatever was started (generate failed, or opening did)."""
        for meter in self._started:
            with contextlib.suppress(Exception):  # already failing: keep the first error
                meter.stop()
        self._started = []
        if self.sampler is not None:
            self.sampler.stop()
