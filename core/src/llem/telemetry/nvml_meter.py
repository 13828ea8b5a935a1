"""The built-in ``nvml`` meter: per-GPU energy of a window from NVML.

Where the GPU has the cumulative energy counter (nvmlDeviceGetTotalEnergyConsumption,
Volta and newer) the window's energy is the counter's difference between the edges
(method ``energy_counter``; it updates every 100 ms on an H100, hence the resolution).
Elsewhere -- or when ``nvml.method: power_integration`` asks for it -- power is polled
and integrated with trapezoids (method ``power_integration``), from the window's
telemetry sampler when one is running, else from a sampler of the meter's own.

Accuracy: NVIDIA specifies board power to +-5 W, so the bound is 5 W x window per GPU.
Registered by llem.builtins through the same hook as any third-party meter.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Literal

import attrs

from llem.interfaces import Availability, Device, EnergyReading, Meter
from llem.telemetry import integrate
from llem.telemetry.nvml import INSTALL_FIX, NvmlUnavailable
from llem.telemetry.reader import GpuReader
from llem.telemetry.sampler import TelemetrySampler, active_sampler

ACCURACY_W = 5.0
COUNTER_RESOLUTION_S = 0.1
FALLBACK_INTERVAL_S = 0.1


@attrs.frozen
class NvmlMeterConfig:
    """``nvml:`` section. ``method``: auto (counter where supported, else polled power),
    energy_counter (refuse GPUs without one), power_integration (always poll)."""

    method: Literal["auto", "energy_counter", "power_integration"] = "auto"


class NvmlMeter(Meter[NvmlMeterConfig]):
    """GPU energy from NVML's energy counter, else integrated polled power."""

    name = "nvml"

    def __init__(self, section: NvmlMeterConfig | None = None) -> None:
        super().__init__(section)
        self._readers: dict[str, GpuReader] = {}
        self._counter_start: dict[str, int] = {}
        self._polled: tuple[str, ...] = ()
        self._sampler: TelemetrySampler | None = None
        self._own_sampler = False
        self._t0_ns: int | None = None

    @classmethod
    def missing_requirement(cls) -> str | None:
        if importlib.util.find_spec("pynvml") is None:
            return f"the pynvml module is not installed: {INSTALL_FIX}"
        return None

    def probe(self, devices: Sequence[Device]) -> Availability:
        if not devices:
            return Availability(
                False,
                "no NVIDIA GPU in this experiment",
                "run on an NVIDIA GPU (devices: [0]) or choose a CPU meter",
            )
        try:
            readers = [GpuReader(d) for d in devices]
        except NvmlUnavailable as exc:
            return Availability(False, exc.reason, exc.fix)
        except Exception as exc:
            return Availability(
                False,
                f"NVML cannot open the experiment's GPUs: {exc}",
                "check the GPUs with nvidia-smi",
            )
        for reader in readers:
            has_counter = reader.energy_mj() is not None
            label = f"GPU {reader.device.cuda_index} ({reader.device.uuid})"
            if self.section.method == "energy_counter" and not has_counter:
                return Availability(
                    False,
                    f"{label} has no NVML energy counter (it needs Volta or newer)",
                    "set nvml.method: auto",
                )
            if not has_counter and reader.power_source is None:
                return Availability(
                    False,
                    f"{label} reports neither energy nor power to NVML",
                    "choose another energy.meter",
                )
        return Availability(True)

    def start(self, devices: Sequence[Device]) -> None:
        self._readers = {d.uuid: GpuReader(d) for d in devices}
        use_counter = self.section.method != "power_integration"
        start = {u: r.energy_mj() if use_counter else None for u, r in self._readers.items()}
        self._polled = tuple(u for u, mj in start.items() if mj is None)
        self._sampler, self._own_sampler = self._power_sampler(devices), False
        if self._polled and self._sampler is None:
            polled = [d for d in devices if d.uuid in self._polled]
            self._sampler = TelemetrySampler(
                polled, FALLBACK_INTERVAL_S, full=False, edge_energy=False
            ).start()
            self._own_sampler = True
        # Read again: the first read only found out which GPUs have a counter (and the
        # fallback sampler may have taken a moment to start); this one opens the window.
        self._counter_start = {}
        for uuid in start:
            if uuid not in self._polled and (mj := self._readers[uuid].energy_mj()) is not None:
                self._counter_start[uuid] = mj
        self._t0_ns = time.perf_counter_ns()

    def stop(self) -> EnergyReading:
        if self._t0_ns is None:
            raise RuntimeError("nvml meter: stop() without start()")
        counter_end = {u: self._readers[u].energy_mj() for u in self._counter_start}
        t1_ns = time.perf_counter_ns()
        window_s = (t1_ns - self._t0_ns) / 1e9
        gpu_j: dict[str, float] = {}
        methods: dict[str, str] = {}
        notes: list[str] = []
        for uuid, start_mj in self._counter_start.items():
            end_mj = counter_end[uuid]
            if end_mj is None or end_mj < start_mj:
                notes.append(
                    f"GPU {uuid}: the energy counter went backwards or stopped "
                    f"answering (driver reset?); energy unknown"
                )
                continue
            gpu_j[uuid] = (end_mj - start_mj) / 1000.0
            methods[uuid] = "energy_counter"
        samples = self._integrate(self._t0_ns, t1_ns, gpu_j, methods, notes)
        self._t0_ns = None
        method = "+".join(sorted(set(methods.values()))) or "none"
        polled = [u for u, m in methods.items() if m == "power_integration"]
        if polled and self.section.method == "auto":
            notes.append(
                f"no energy counter on {', '.join(polled)}: energy integrated from "
                f"power polled every {FALLBACK_INTERVAL_S * 1000:.0f} ms (trapezoids)"
            )
        return EnergyReading(
            meter=self.name,
            method=method,
            gpu_j=gpu_j if len(gpu_j) == len(self._readers) else None,
            resolution_s=(
                COUNTER_RESOLUTION_S if not polled else max(COUNTER_RESOLUTION_S, self._interval())
            ),
            notes=tuple(notes),
            details={
                "per_device_method": methods,
                "power_source": {u: r.power_source for u, r in self._readers.items()},
                "power_samples": samples,
                "window_s": window_s,
                "accuracy_w_per_gpu": ACCURACY_W,
                "accuracy_bound_j": ACCURACY_W * len(self._readers) * window_s,
            },
        )

    def _integrate(
        self,
        t0_ns: int,
        t1_ns: int,
        gpu_j: dict[str, float],
        methods: dict[str, str],
        notes: list[str],
    ) -> dict[str, int]:
        samples: dict[str, int] = {}
        if not self._polled or self._sampler is None:
            return samples
        if self._own_sampler:
            series = self._sampler.stop()
        else:
            self._sampler.sample()  # a reading at the window's closing edge
            series = self._sampler.timeseries
        for uuid in self._polled:
            points = [(t, w) for t, w in series.rows(uuid, "power_w") if t <= t1_ns]
            samples[uuid] = sum(1 for t, _ in points if t >= t0_ns)
            if not points:
                notes.append(f"GPU {uuid}: no power sample in the window; energy unknown")
                continue
            gpu_j[uuid] = integrate.energy_j(points, t0_ns, t1_ns)
            methods[uuid] = "power_integration"
        return samples

    def _power_sampler(self, devices: Sequence[Device]) -> TelemetrySampler | None:
        """The window's sampler, if it is running and covers the polled GPUs."""
        sampler = active_sampler()
        if sampler is None:
            return None
        covered = {d.uuid for d in sampler.devices}
        return sampler if set(self._polled) <= covered else None

    def _interval(self) -> float:
        return self._sampler.interval_s if self._sampler is not None else FALLBACK_INTERVAL_S
