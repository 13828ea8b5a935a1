"""Reads one GPU's instantaneous state through NVML, cheaply and without raising.

Which NVML calls a GPU supports is found out once, when the reader is made, so a sample
costs only the calls that work: power from the instant field NVML_FI_DEV_POWER_INSTANT
(186) where the driver has it, else nvmlDeviceGetPowerUsage (a ~1 s average on recent
GPUs); clock-event reasons from nvmlDeviceGetCurrentClocksEventReasons, else its older
name ...ThrottleReasons. The energy counter costs ~4 ms per read on an H100, so it is
read only when asked (at window edges and about once a second between them), never per
sample.
"""

from __future__ import annotations

from typing import Any

from llem.interfaces import Device
from llem.telemetry.nvml import field_value, nvml

NVML_FI_DEV_POWER_INSTANT = 186
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2


class GpuReader:
    """One GPU's readings. ``power_source`` says where power comes from."""

    def __init__(self, device: Device) -> None:
        self.lib = nvml()
        self.device = device
        self.handle = self.lib.nvmlDeviceGetHandleByUUID(device.uuid)
        self.power_source = self._pick_power_source()
        self._reasons = self._pick_reasons_function()
        self._broken: set[str] = set()

    # -- power and energy ----------------------------------------------------------------
    def power_w(self) -> float | None:
        if self.power_source == "instant_field":
            try:
                values = self.lib.nvmlDeviceGetFieldValues(self.handle, [NVML_FI_DEV_POWER_INSTANT])
                milliwatts = field_value(values[0])
            except self.lib.NVMLError:
                milliwatts = None
            if milliwatts is not None:
                return milliwatts / 1000.0
        if self.power_source is None:
            return None
        try:
            return self.lib.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        except self.lib.NVMLError:
            return None

    def energy_mj(self) -> int | None:
        """The cumulative energy counter (mJ since driver load), None if unsupported."""
        try:
            return int(self.lib.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except (self.lib.NVMLError, AttributeError):
            return None

    # -- the rest of a sample --------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Temperature, memory, utilisation, clocks and clock-event reasons (None where
        unsupported)."""
        memory = self._call("nvmlDeviceGetMemoryInfo", self.handle)
        util = self._call("nvmlDeviceGetUtilizationRates", self.handle)
        return {
            "temperature_c": self._call(
                "nvmlDeviceGetTemperature", self.handle, NVML_TEMPERATURE_GPU
            ),
            "memory_used_bytes": None if memory is None else int(memory.used),
            "memory_total_bytes": None if memory is None else int(memory.total),
            "sm_util_pct": None if util is None else int(util.gpu),
            "mem_util_pct": None if util is None else int(util.memory),
            "sm_clock_mhz": self._call("nvmlDeviceGetClockInfo", self.handle, NVML_CLOCK_SM),
            "mem_clock_mhz": self._call("nvmlDeviceGetClockInfo", self.handle, NVML_CLOCK_MEM),
            "clock_event_reasons": (
                None if self._reasons is None else self._call(self._reasons, self.handle)
            ),
        }

    def _call(self, function: str, *args: Any) -> Any:
        """An NVML query that failed once is not asked again (it would fail every time)."""
        if function in self._broken:
            return None
        try:
            return getattr(self.lib, function)(*args)
        except (self.lib.NVMLError, AttributeError):
            self._broken.add(function)
            return None

    def _pick_power_source(self) -> str | None:
        try:
            values = self.lib.nvmlDeviceGetFieldValues(self.handle, [NVML_FI_DEV_POWER_INSTANT])
            if field_value(values[0]) is not None:
                return "instant_field"
        except (self.lib.NVMLError, AttributeError):
            pass
        try:
            self.lib.nvmlDeviceGetPowerUsage(self.handle)
            return "power_usage"
        except self.lib.NVMLError:
            return None

    def _pick_reasons_function(self) -> str | None:
        for name in (
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
        ):
            if not hasattr(self.lib, name):
                continue
            try:
                getattr(self.lib, name)(self.handle)
                return name
            except self.lib.NVMLError:
                continue
        return None
