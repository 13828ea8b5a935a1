"""A stand-in for the ``pynvml`` module (nvidia-ml-py) with simulated GPUs.

Constants and the ``NVMLError`` class hierarchy are taken from the real pynvml, so error
codes and ``except pynvml.NVMLError_NotSupported`` behave exactly as in the libraries
under test (Zeus's ``_handle_nvml_errors`` maps ``e.value``; codecarbon catches
``NVMLError_NotSupported``). The functions are the ones Zeus 0.16
(zeus/device/gpu/nvidia.py) and codecarbon 3 (codecarbon/core/gpu_nvidia.py) call, with
the real units: energy in mJ, power in mW, memory in bytes.

Energy counters advance only when a test calls ``advance(seconds)``: each GPU adds
``power_w * seconds`` -- deterministic, so a test knows the exact joules to expect.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


def real_pynvml() -> types.ModuleType:
    """nvidia-ml-py's own ``pynvml``, even while another test's fake holds the name."""
    module = sys.modules.get("pynvml") or importlib.import_module("pynvml")
    genuine = type(module) is types.ModuleType and not getattr(module, "FAKE_NVML", False)
    if genuine and hasattr(module, "_nvmlGetFunctionPointer"):
        return module
    name = "llem_tests_real_pynvml"
    if name not in sys.modules:
        path = metadata.distribution("nvidia-ml-py").locate_file("pynvml.py")
        spec = importlib.util.spec_from_file_location(name, path)
        loaded = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(loaded)  # type: ignore[union-attr]
        sys.modules[name] = loaded
    return sys.modules[name]


_real = real_pynvml()


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_w: float = 100.0
    energy_mj: int = 1_000_000
    arch: int = _real.NVML_DEVICE_ARCH_HOPPER
    pci_bus_id: str = "00000000:00:00.0"
    memory_total: int = 80 * 1024**3
    reads: int = field(default=0)


@dataclass
class _Handle:
    index: int


class FakeNvml(types.ModuleType):
    """``FakeNvml([FakeGpu(...), ...])``; ``available=False`` fails ``nvmlInit`` like a
    machine without the driver (NVML_ERROR_LIBRARY_NOT_FOUND)."""

    def __init__(self, gpus: list[FakeGpu], available: bool = True) -> None:
        super().__init__("pynvml")
        for key in dir(_real):
            if key.startswith(("NVML_", "NVMLError")):
                setattr(self, key, getattr(_real, key))
        self.c_nvmlMemory_t = _real.c_nvmlMemory_t
        self.gpus = gpus
        self.available = available
        self.initialized = 0

    # Zeus refuses an "unofficial pynvml" that lacks this symbol of nvidia-ml-py.
    def _nvmlGetFunctionPointer(self, name: str) -> None:  # noqa: N802
        return None

    def advance(self, seconds: float) -> None:
        for gpu in self.gpus:
            gpu.energy_mj += round(gpu.power_w * seconds * 1000)

    def _error(self, code: int) -> Exception:
        return _real.NVMLError(code)

    def _gpu(self, handle: _Handle) -> FakeGpu:
        self._require_init()
        return self.gpus[handle.index]

    def _require_init(self) -> None:
        if not self.initialized:
            raise self._error(_real.NVML_ERROR_UNINITIALIZED)

    # --- library ---------------------------------------------------------------------
    def nvmlInit(self) -> None:  # noqa: N802
        if not self.available:
            raise self._error(_real.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialized += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialized = max(0, self.initialized - 1)

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return "580.159.04"

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._require_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:  # noqa: N802
        self._require_init()
        if not 0 <= index < len(self.gpus):
            raise self._error(_real.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    # --- identity ----------------------------------------------------------------------
    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:  # noqa: N802
        return self._gpu(handle).uuid

    def nvmlDeviceGetName(self, handle: _Handle) -> str:  # noqa: N802
        return self._gpu(handle).name

    def nvmlDeviceGetArchitecture(self, handle: _Handle) -> int:  # noqa: N802
        return self._gpu(handle).arch

    def nvmlDeviceGetC2cModeInfoV(self, handle: _Handle) -> Any:  # noqa: N802
        self._gpu(handle)
        raise self._error(_real.NVML_ERROR_NOT_SUPPORTED)  # not a Grace Hopper

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> Any:  # noqa: N802
        total = self._gpu(handle).memory_total
        return _real.c_nvmlMemory_t(total, total, 0)

    # --- energy and power --------------------------------------------------------------
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:  # noqa: N802
        gpu = self._gpu(handle)
        if gpu.arch < _real.NVML_DEVICE_ARCH_VOLTA:
            raise self._error(_real.NVML_ERROR_NOT_SUPPORTED)
        gpu.reads += 1
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:  # noqa: N802
        return round(self._gpu(handle).power_w * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:  # noqa: N802
        self._gpu(handle)
        return 700_000

    def nvmlDeviceGetFieldValues(self, handle: _Handle, field_ids: list) -> list:  # noqa: N802
        gpu = self._gpu(handle)
        values = []
        for item in field_ids:
            field_id, scope = item if isinstance(item, tuple) else (item, 0)
            value = _real.c_nvmlFieldValue_t()
            value.fieldId = field_id
            value.scopeId = scope
            if field_id in (_real.NVML_FI_DEV_POWER_INSTANT, _real.NVML_FI_DEV_POWER_AVERAGE):
                value.nvmlReturn = _real.NVML_SUCCESS
                value.value.uiVal = round(gpu.power_w * 1000)
            else:
                value.nvmlReturn = _real.NVML_ERROR_NOT_SUPPORTED
            values.append(value)
        return values

    # --- what codecarbon's 1 s monitor and details read ---------------------------------
    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> Any:  # noqa: N802
        self._gpu(handle)
        return types.SimpleNamespace(gpu=100, memory=50)

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:  # noqa: N802
        self._gpu(handle)
        return 40

    def nvmlDeviceGetComputeMode(self, handle: _Handle) -> int:  # noqa: N802
        self._gpu(handle)
        return 0

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list:  # noqa: N802
        self._gpu(handle)
        return []

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: _Handle) -> list:  # noqa: N802
        self._gpu(handle)
        return []


def make_gpus(n: int, powers: list[float] | None = None) -> list[FakeGpu]:
    """``n`` GPUs with UUIDs GPU-0000...-000k, distinct powers so energies tell them apart."""
    powers = powers or [100.0 * (k + 1) for k in range(n)]
    return [
        FakeGpu(
            uuid=f"GPU-{k:08d}-0000-0000-0000-{k:012d}",
            power_w=powers[k],
            pci_bus_id=f"00000000:{k + 1:02X}:00.0",
        )
        for k in range(n)
    ]
