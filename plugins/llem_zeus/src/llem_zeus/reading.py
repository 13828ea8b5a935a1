"""Turn a Zeus ``Measurement`` into an llem ``EnergyReading``.

``zeus.monitor.energy.Measurement`` holds ``time`` (s), ``gpu_energy`` {zeus index: J},
``cpu_energy`` and ``dram_energy`` {RAPL package: J} or None. Here indices become UUIDs,
packages are summed, and every component that is unknown is None with a note -- never 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llem.plugin import Device, EnergyReading

# NVML's energy counter advances about every 100 ms (measured on an H100, GPU-NOTES).
COUNTER_UPDATE_S = 0.1
_ZEUS_ZERO_WARNING = "The energy consumption of one or more GPUs was measured as zero"


def build_reading(
    measurement: Any,
    *,
    devices: Sequence[Device],
    zeus_index: Mapping[str, int],
    has_counter: Mapping[str, bool],
    approx_instant_energy: bool,
    cpu_notes: Sequence[str] = (),
    zeus_warnings: Sequence[str] = (),
    zeus_version: str | None = None,
) -> EnergyReading:
    """The reading for one window; ``has_counter`` says, per UUID, whether Zeus read the
    NVML energy counter (Volta and newer) or integrated polled power (older GPUs)."""
    notes = list(cpu_notes)
    gpu_j = _gpu_energy(measurement, devices, zeus_index, approx_instant_energy, notes)
    cpu_j, dram_j = _cpu_energy(measurement, notes)
    notes += [f"zeus: {w}" for w in zeus_warnings if not w.startswith(_ZEUS_ZERO_WARNING)]
    counters = {has_counter[d.uuid] for d in devices}
    if not devices:
        method = "rapl"
    elif counters == {True}:
        method = "energy_counter"
    elif counters == {False}:
        method = "power_integration"
    else:
        method = "energy_counter+power_integration"
    details: dict[str, Any] = {
        "zeus_version": zeus_version,
        "window_s": float(measurement.time),
        "zeus_gpu_index": {d.uuid: zeus_index[d.uuid] for d in devices},
        "gpu_method": {
            d.uuid: "energy_counter" if has_counter[d.uuid] else "power_integration"
            for d in devices
        },
        "approx_instant_energy": approx_instant_energy,
    }
    if measurement.cpu_energy:  # keys as text: they survive a JSON round trip unchanged
        details["cpu_j_by_package"] = {str(k): float(v) for k, v in measurement.cpu_energy.items()}
    if measurement.dram_energy:
        details["dram_j_by_package"] = {
            str(k): float(v) for k, v in measurement.dram_energy.items()
        }
    return EnergyReading(
        meter="zeus",
        method=method,
        gpu_j=gpu_j,
        cpu_j=cpu_j,
        dram_j=dram_j,
        resolution_s=COUNTER_UPDATE_S if method == "energy_counter" else None,
        notes=tuple(notes),
        details=details,
    )


def _gpu_energy(
    measurement: Any,
    devices: Sequence[Device],
    zeus_index: Mapping[str, int],
    approx: bool,
    notes: list[str],
) -> dict[str, float] | None:
    if not devices:
        notes.append("GPU energy: no GPU in this experiment")
        return None
    per_device = {d.uuid: float(measurement.gpu_energy[zeus_index[d.uuid]]) for d in devices}
    stuck = [uuid for uuid, joules in per_device.items() if joules == 0.0]
    if stuck and not approx:
        notes.append(
            f"GPU energy unknown: the NVML energy counter of {', '.join(stuck)} did not advance "
            f"over the {measurement.time:.3f} s window (it updates about every "
            f"{COUNTER_UPDATE_S * 1000:.0f} ms); lengthen the window, or set "
            "zeus.approx_instant_energy: true to accept instant power x duration"
        )
        return None
    if approx:
        notes.append(
            "zeus.approx_instant_energy is on: a GPU whose counter did not advance over the "
            "window is reported as instant power x window duration (an approximation)"
        )
    return per_device


def _cpu_energy(measurement: Any, notes: list[str]) -> tuple[float | None, float | None]:
    cpu = measurement.cpu_energy
    if not cpu:
        return None, None  # the reason is among cpu_notes, decided before the window
    dram = measurement.dram_energy
    missing = sorted(set(cpu) - set(dram or {}))
    if missing:
        notes.append(
            f"DRAM energy unknown: RAPL exposes no DRAM domain for package(s) "
            f"{', '.join(map(str, missing))} (common on client and AMD CPUs)"
        )
        dram_j = None
    else:
        dram_j = float(sum(dram.values()))  # type: ignore[union-attr]
    return float(sum(cpu.values())), dram_j
