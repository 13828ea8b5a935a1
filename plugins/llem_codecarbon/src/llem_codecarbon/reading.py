"""Turn codecarbon's ``EmissionsData`` for one window into an llem ``EnergyReading``.

``EmissionsData`` (codecarbon/output_methods/emissions_data.py) carries energies in kWh
(``cpu_energy``, ``gpu_energy``, ``ram_energy``), ``emissions`` in kg, and the location it
used. GPU energy is one total over the tracked GPUs, so it is per device only when the
experiment has one GPU; with several, ``gpu_j`` is null and the total is in the details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llem.plugin import Device, EnergyReading

from llem_codecarbon.config import CodecarbonConfig
from llem_codecarbon.intensity import FALLBACK_LOCATION, NO_LOCATION
from llem_codecarbon.library import codecarbon_version


def build_reading(
    data: Any, *, devices: Sequence[Device], section: CodecarbonConfig, carbon: Any
) -> EnergyReading:
    from codecarbon.core.units import Energy

    def joules(kwh: float) -> float:
        return float(kwh) / Energy.JOULES_TO_KWH  # the inverse of codecarbon's own factor

    notes = [
        "codecarbon: CPU energy is an estimate unless read from RAPL, RAM energy is always "
        "an estimate (see details.cpu_method and details.ram_method)"
    ]
    gpu_total = joules(data.gpu_energy)
    if not devices:
        gpu_j = None
        notes.append("GPU energy: no GPU in this experiment")
    elif gpu_total == 0.0:
        gpu_j = None
        notes.append(
            f"GPU energy unknown: the NVML energy counter did not advance over the "
            f"{float(data.duration):.3f} s window (it updates about every 100 ms)"
        )
    elif len(devices) == 1:
        gpu_j = {devices[0].uuid: gpu_total}
    else:
        gpu_j = None
        notes.append(
            f"GPU energy per device unknown: codecarbon reports one total for the "
            f"{len(devices)} GPUs ({gpu_total:.3f} J, in details.gpu_total_j)"
        )
    co2_kg, location_note = _co2(data, carbon)
    if location_note:
        notes.append(location_note)
    total_kwh = float(data.energy_consumed)
    details: dict[str, Any] = {
        "codecarbon_version": codecarbon_version(),
        "tracker": "online" if _online(carbon) else "offline",
        "duration_s": float(data.duration),
        "tracked_gpus": {d.uuid: d.nvml_index for d in devices},
        "gpu_method": "NVML energy counter, read by codecarbon",
        "cpu_method": cpu_method(section),
        "ram_method": (
            f"constant {section.force_ram_power_w} W (codecarbon.force_ram_power_w)"
            if section.force_ram_power_w is not None
            else "estimate: codecarbon's RAM power model"
        ),
        "cpu_model": data.cpu_model,
        "cpu_power_w": float(data.cpu_power),
        "ram_power_w": float(data.ram_power),
        "gpu_power_w": float(data.gpu_power),
        "tracking_mode": data.tracking_mode,
        "country_iso_code": data.country_iso_code,
        "country_name": data.country_name,
        "region": data.region,
        "pue": float(data.pue),
    }
    if devices:
        details["gpu_total_j"] = gpu_total
    if co2_kg is not None and total_kwh > 0:
        details["intensity_g_per_kwh"] = co2_kg / total_kwh * 1000.0
    return EnergyReading(
        meter="codecarbon",
        method="estimate",
        gpu_j=gpu_j,
        cpu_j=joules(data.cpu_energy),
        dram_j=joules(data.ram_energy),
        resolution_s=None,
        co2_kg=co2_kg,
        notes=tuple(notes),
        details=details,
    )


def cpu_method(section: CodecarbonConfig) -> str:
    """How codecarbon got CPU power, by the same rules as its ResourceTracker."""
    from codecarbon.core import cpu as cc_cpu
    from codecarbon.core.hardware_cache import get_cached_tdp
    from codecarbon.core.util import is_linux_os
    from codecarbon.external.hardware import POWER_CONSTANT

    formula = (
        "power = TDP x (0.1 + 0.9 x load^3)"
        if section.tracking_mode == "machine"
        else "power = TDP x the worker's share of CPU time"
    )
    if section.force_cpu_power_w is not None:
        return (
            f"estimate from CPU load ({formula}) with TDP {section.force_cpu_power_w} W "
            "from codecarbon.force_cpu_power_w"
        )
    if is_linux_os() and cc_cpu.is_rapl_available():
        return "measured: RAPL package energy counters (codecarbon intel_rapl mode)"
    tdp = get_cached_tdp(cc_cpu)
    if tdp.tdp:
        source = f"TDP {tdp.tdp} W per socket for {tdp.model!r} from codecarbon's CPU table"
    else:
        source = (
            f"{tdp.model!r} is not in codecarbon's CPU table: its generic {POWER_CONSTANT} W TDP"
        )
    return f"estimate from CPU load ({formula}); {source}"


def _online(carbon: Any) -> bool:
    return not getattr(carbon, "country_iso_code", None) and bool(getattr(carbon, "online", False))


def _co2(data: Any, carbon: Any) -> tuple[float | None, str | None]:
    if carbon is None:
        return None, "co2_kg is null: the lifecycle passed no carbon settings to the meter"
    if not carbon.country_iso_code and not carbon.online:
        return None, NO_LOCATION
    if _online(carbon):
        located = (
            data.country_iso_code,
            (data.region or "").lower(),
            data.latitude,
            data.longitude,
        )
        if located == FALLBACK_LOCATION:
            return None, (
                "co2_kg is null: codecarbon could not locate this machine online "
                "and fell back to its default (Canada/Quebec); set "
                "carbon.country_iso_code instead"
            )
    return float(data.emissions), None
