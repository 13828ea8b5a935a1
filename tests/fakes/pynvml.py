"""A fake ``pynvml`` (nvidia-ml-py) with simulated GPUs whose counters follow real time.

It mimics the real module where llem touches it: the same function names and argument
orders, the same units (energy in mJ, power in mW, memory in bytes, clocks in MHz), the
``NVMLError`` class whose ``__new__`` maps ``value`` to a subclass
(``NVMLError_NotSupported`` ...), per-field ``nvmlReturn`` in
``nvmlDeviceGetFieldValues`` (a ctypes array of a struct laid out like
``c_nvmlFieldValue_t``), ``NVML_ERROR_UNINITIALIZED`` before ``nvmlInit`` and
``NVML_ERROR_FUNCTION_NOT_FOUND`` for functions an old driver lacks.

The energy counter is the integral of the simulated power over wall time (monotonic
clock), so a window's counter difference is exactly ``power x duration``; tests (or the
fake backend) change the power with ``set_power`` to simulate load. Like the H100 here,
readings can be quantised to an update period (``update_interval_s``).

How tests use it:

- in-process: load this file under the name ``pynvml`` into ``sys.modules`` and call
  ``configure(gpus=[...])``;
- in a spawned worker: put a directory holding this file first on ``sys.path`` (spawned
  children inherit the parent's sys.path) and describe the machine in the environment
  variable ``LLEM_FAKE_NVML`` (JSON: ``{"gpus": [...], "available": true}``), read when
  the module is imported. Only this test module reads that variable.
"""

from __future__ import annotations

import ctypes
import json
import os
import string
import threading
import time
from typing import Any

FAKE_NVML = True  # lets test code tell the fake from the real module

# --- constants (values as in nvidia-ml-py 13) --------------------------------------------
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_UNKNOWN = 999

NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_VIDEO = 3

NVML_VALUE_TYPE_DOUBLE = 0
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_VALUE_TYPE_UNSIGNED_LONG = 2
NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
NVML_VALUE_TYPE_SIGNED_INT = 5

NVML_FI_DEV_POWER_AVERAGE = 185
NVML_FI_DEV_POWER_INSTANT = 186
NVML_FI_DEV_ENERGY = 191

NVML_DEVICE_ARCH_VOLTA = 5
NVML_DEVICE_ARCH_AMPERE = 7
NVML_DEVICE_ARCH_HOPPER = 9

nvmlClocksEventReasonGpuIdle = 0x1
nvmlClocksEventReasonApplicationsClocksSetting = 0x2
nvmlClocksEventReasonSwPowerCap = 0x4
nvmlClocksEventReasonHwSlowdown = 0x8
nvmlClocksEventReasonSyncBoost = 0x10
nvmlClocksEventReasonSwThermalSlowdown = 0x20
nvmlClocksEventReasonHwThermalSlowdown = 0x40
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80
nvmlClocksEventReasonDisplayClockSetting = 0x100
nvmlClocksEventReasonNone = 0x0
nvmlClocksThrottleReasonGpuIdle = 0x1
nvmlClocksThrottleReasonApplicationsClocksSetting = 0x2
nvmlClocksThrottleReasonSwPowerCap = 0x4
nvmlClocksThrottleReasonNone = 0x0


# --- errors: the real module's hierarchy ---------------------------------------------------
class NVMLError(Exception):
    _valClassMapping: dict[int, type] = {}
    _errcode_to_string = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_INSUFFICIENT_SIZE: "Insufficient Size",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
        NVML_ERROR_UNKNOWN: "Unknown Error",
    }

    def __new__(cls, value):  # type: ignore[no-untyped-def]
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return self._errcode_to_string.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return self.value == getattr(other, "value", None)

    __hash__ = Exception.__hash__


def _make_error_classes() -> None:
    module = globals()
    for err_name in [n for n in module if n.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(
            err_name.replace("NVML_ERROR_", ""), "_"
        ).replace("_", "")
        value = module[err_name]

        def new(cls, *args, _value=value):  # type: ignore[no-untyped-def]
            return NVMLError.__new__(cls, _value)

        cls = type(class_name, (NVMLError,), {"__new__": new})
        cls.__module__ = __name__
        module[class_name] = cls
        NVMLError._valClassMapping[value] = cls


_make_error_classes()


# --- structs ----------------------------------------------------------------------------
class c_nvmlValue_t(ctypes.Union):  # noqa: N801
    _fields_ = [
        ("dVal", ctypes.c_double),
        ("uiVal", ctypes.c_uint),
        ("ulVal", ctypes.c_ulong),
        ("ullVal", ctypes.c_ulonglong),
        ("sllVal", ctypes.c_longlong),
        ("siVal", ctypes.c_int),
        ("usVal", ctypes.c_ushort),
    ]


class c_nvmlFieldValue_t(ctypes.Structure):  # noqa: N801
    _fields_ = [
        ("fieldId", ctypes.c_uint32),
        ("scopeId", ctypes.c_uint32),
        ("timestamp", ctypes.c_int64),
        ("latencyUsec", ctypes.c_int64),
        ("valueType", ctypes.c_uint),
        ("nvmlReturn", ctypes.c_uint),
        ("value", c_nvmlValue_t),
    ]


class _Friendly:
    """Like pynvml's nvmlFriendlyObject / _PrintableStructure (attributes only)."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__})"


class c_nvmlDevice_t:  # noqa: N801
    """An opaque handle, as real handles are (a pointer)."""

    def __init__(self, index: int) -> None:
        self._index = index

    def __repr__(self) -> str:
        return f"<fake c_nvmlDevice_t {self._index}>"


# --- the simulated machine -------------------------------------------------------------------
DEFAULT_GPU: dict[str, Any] = {
    "name": "NVIDIA H100 80GB HBM3",
    "memory_total": 80 * 1024**3,
    "memory_used": 1 * 1024**3,
    "power_w": 70.0,
    "temperature_c": 34,
    "energy_counter": True,
    "power_instant": True,
    "persistence": True,
    "power_limit_w": 700.0,
    "sm_clock": 1980,
    "mem_clock": 2619,
    "max_sm_clock": 1980,
    "compute_capability": [9, 0],
    "utilization": 0,
    "clocks_event_reasons": 0,
    "processes": [],
    "update_interval_s": 0.0,
    "energy_read_cost_s": 0.0,
    "missing_functions": [],
}


class _Gpu:
    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.index = index
        self.spec = {**DEFAULT_GPU, **spec}
        self.spec.setdefault("uuid", f"GPU-{index:08x}-fake-4000-8000-{index:012x}")
        self.spec.setdefault("pci_bus_id", f"00000000:{0x10 + index:02X}:00.0")
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._history: list[tuple[float, float]] = [(self._t0, float(self.spec["power_w"]))]
        self._energy_mj0 = float(spec.get("energy_mj", 5_000_000_000))

    def __getitem__(self, key: str) -> Any:
        return self.spec[key]

    def set_power(self, watts: float) -> None:
        with self._lock:
            self._history.append((time.monotonic(), float(watts)))

    def _effective(self, now: float) -> float:
        step = float(self.spec["update_interval_s"])
        if step <= 0:
            return now
        return self._t0 + ((now - self._t0) // step) * step

    def power_w(self) -> float:
        t = self._effective(time.monotonic())
        with self._lock:
            return next(p for ts, p in reversed(self._history) if ts <= t or ts == self._t0)

    def energy_mj(self) -> int:
        t = self._effective(time.monotonic())
        with self._lock:
            history = list(self._history)
        total = self._energy_mj0
        for (start, watts), nxt in zip(history, history[1:] + [(t, 0.0)], strict=True):
            end = min(nxt[0], t)
            if end > start:
                total += watts * (end - start) * 1000.0
        return int(total)


class _Machine:
    def __init__(
        self,
        gpus: list[dict[str, Any]],
        available: bool = True,
        driver: str = "580.159.04",
        cuda_driver: int = 13000,
    ) -> None:
        self.gpus = [_Gpu(i, g) for i, g in enumerate(gpus)]
        self.available = available
        self.driver = driver
        self.cuda_driver = cuda_driver
        self.initialised = 0
        self.calls: dict[str, int] = {}


def _machine_from_env() -> _Machine:
    raw = os.environ.get("LLEM_FAKE_NVML")
    if not raw:
        return _Machine([{}])
    spec = json.loads(raw)
    return _Machine(
        spec.get("gpus", [{}]),
        spec.get("available", True),
        spec.get("driver", "580.159.04"),
        spec.get("cuda_driver", 13000),
    )


_machine = _machine_from_env()


def configure(
    gpus: list[dict[str, Any]] | None = None,
    available: bool = True,
    driver: str = "580.159.04",
    cuda_driver: int = 13000,
) -> None:
    """Test helper: replace the simulated machine (GPU specs override DEFAULT_GPU)."""
    global _machine
    initialised = _machine.initialised if available else 0  # nvmlInit survives a re-configure
    _machine = _Machine(gpus if gpus is not None else [{}], available, driver, cuda_driver)
    _machine.initialised = initialised


def set_power(index: int | None, watts: float) -> None:
    """Test helper: GPU ``index`` (None: all) draws ``watts`` from now on."""
    for gpu in _machine.gpus:
        if index is None or gpu.index == index:
            gpu.set_power(watts)


def set_spec(index: int, **spec: Any) -> None:
    """Test helper: change static properties (temperature_c, processes, ...)."""
    _machine.gpus[index].spec.update(spec)


def call_count(name: str) -> int:
    """Test helper: how often ``name`` was called since configure()."""
    return _machine.calls.get(name, 0)


# --- the API ------------------------------------------------------------------------------
def _count(name: str) -> None:
    _machine.calls[name] = _machine.calls.get(name, 0) + 1


def _check_init() -> None:
    if _machine.initialised <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


def _gpu(handle: c_nvmlDevice_t, function: str) -> _Gpu:
    _check_init()
    _count(function)
    if not isinstance(handle, c_nvmlDevice_t) or handle._index >= len(_machine.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    gpu = _machine.gpus[handle._index]
    if function in gpu["missing_functions"]:
        raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
    return gpu


def nvmlInit() -> None:  # noqa: N802
    if not _machine.available:
        raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
    _machine.initialised += 1


def nvmlInitWithFlags(flags: int) -> None:  # noqa: N802
    nvmlInit()


def nvmlShutdown() -> None:  # noqa: N802
    _check_init()
    _machine.initialised -= 1


def nvmlSystemGetDriverVersion() -> str:  # noqa: N802
    _check_init()
    return _machine.driver


def nvmlSystemGetCudaDriverVersion() -> int:  # noqa: N802
    _check_init()
    return _machine.cuda_driver


nvmlSystemGetCudaDriverVersion_v2 = nvmlSystemGetCudaDriverVersion


def nvmlDeviceGetCount() -> int:  # noqa: N802
    _check_init()
    return len(_machine.gpus)


def nvmlDeviceGetHandleByIndex(index: int) -> c_nvmlDevice_t:  # noqa: N802
    _check_init()
    if not 0 <= index < len(_machine.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return c_nvmlDevice_t(index)


def nvmlDeviceGetHandleByUUID(uuid: str) -> c_nvmlDevice_t:  # noqa: N802
    _check_init()
    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    for gpu in _machine.gpus:
        if gpu["uuid"] == uuid:
            return c_nvmlDevice_t(gpu.index)
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetHandleByPciBusId(bus_id: str) -> c_nvmlDevice_t:  # noqa: N802
    _check_init()
    bus_id = bus_id.decode() if isinstance(bus_id, bytes) else bus_id
    want = _bus_key(bus_id)
    for gpu in _machine.gpus:
        if _bus_key(gpu["pci_bus_id"]) == want:
            return c_nvmlDevice_t(gpu.index)
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def _bus_key(bus_id: str) -> tuple[int, ...]:
    domain, bus, rest = bus_id.split(":")
    device, function = rest.split(".")
    return int(domain, 16), int(bus, 16), int(device, 16), int(function, 16)


def nvmlDeviceGetIndex(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    return _gpu(handle, "nvmlDeviceGetIndex").index


def nvmlDeviceGetName(handle: c_nvmlDevice_t) -> str:  # noqa: N802
    return _gpu(handle, "nvmlDeviceGetName")["name"]


def nvmlDeviceGetUUID(handle: c_nvmlDevice_t) -> str:  # noqa: N802
    return _gpu(handle, "nvmlDeviceGetUUID")["uuid"]


def nvmlDeviceGetPciInfo(handle: c_nvmlDevice_t) -> _Friendly:  # noqa: N802
    gpu = _gpu(handle, "nvmlDeviceGetPciInfo")
    domain, bus, device, function = _bus_key(gpu["pci_bus_id"])
    return _Friendly(
        busId=gpu["pci_bus_id"],
        busIdLegacy=gpu["pci_bus_id"][4:],
        domain=domain,
        bus=bus,
        device=device,
        pciDeviceId=0x233010DE,
        pciSubSystemId=0x16C110DE,
    )


nvmlDeviceGetPciInfo_v3 = nvmlDeviceGetPciInfo


def nvmlDeviceGetMemoryInfo(handle: c_nvmlDevice_t, version: Any = None) -> _Friendly:  # noqa: N802
    gpu = _gpu(handle, "nvmlDeviceGetMemoryInfo")
    total, used = int(gpu["memory_total"]), int(gpu["memory_used"])
    return _Friendly(total=total, free=total - used, used=used)


def nvmlDeviceGetCudaComputeCapability(handle: c_nvmlDevice_t) -> tuple[int, int]:  # noqa: N802
    major, minor = _gpu(handle, "nvmlDeviceGetCudaComputeCapability")["compute_capability"]
    return int(major), int(minor)


def nvmlDeviceGetPersistenceMode(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    gpu = _gpu(handle, "nvmlDeviceGetPersistenceMode")
    return NVML_FEATURE_ENABLED if gpu["persistence"] else NVML_FEATURE_DISABLED


def nvmlDeviceGetPowerManagementLimit(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    return int(_gpu(handle, "nvmlDeviceGetPowerManagementLimit")["power_limit_w"] * 1000)


def nvmlDeviceGetEnforcedPowerLimit(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    return int(_gpu(handle, "nvmlDeviceGetEnforcedPowerLimit")["power_limit_w"] * 1000)


def nvmlDeviceGetClockInfo(handle: c_nvmlDevice_t, type: int) -> int:  # noqa: N802, A002
    gpu = _gpu(handle, "nvmlDeviceGetClockInfo")
    return int(gpu["mem_clock"] if type == NVML_CLOCK_MEM else gpu["sm_clock"])


def nvmlDeviceGetMaxClockInfo(handle: c_nvmlDevice_t, type: int) -> int:  # noqa: N802, A002
    gpu = _gpu(handle, "nvmlDeviceGetMaxClockInfo")
    return int(gpu["mem_clock"] if type == NVML_CLOCK_MEM else gpu["max_sm_clock"])


def nvmlDeviceGetTemperature(handle: c_nvmlDevice_t, sensor: int) -> int:  # noqa: N802
    return int(_gpu(handle, "nvmlDeviceGetTemperature")["temperature_c"])


def nvmlDeviceGetUtilizationRates(handle: c_nvmlDevice_t) -> _Friendly:  # noqa: N802
    gpu = _gpu(handle, "nvmlDeviceGetUtilizationRates")
    return _Friendly(gpu=int(gpu["utilization"]), memory=int(gpu["utilization"]) // 2)


def nvmlDeviceGetPowerUsage(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    """Milliwatts."""
    return int(round(_gpu(handle, "nvmlDeviceGetPowerUsage").power_w() * 1000))


def nvmlDeviceGetTotalEnergyConsumption(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    """Millijoules since the driver loaded; NOT_SUPPORTED before Volta."""
    gpu = _gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
    if not gpu["energy_counter"]:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if gpu["energy_read_cost_s"]:
        time.sleep(float(gpu["energy_read_cost_s"]))
    return gpu.energy_mj()


def nvmlDeviceGetFieldValues(handle: c_nvmlDevice_t, fieldIds: list) -> Any:  # noqa: N802, N803
    gpu = _gpu(handle, "nvmlDeviceGetFieldValues")
    values = (c_nvmlFieldValue_t * len(fieldIds))()
    for i, field_id in enumerate(fieldIds):
        try:
            values[i].fieldId, values[i].scopeId = field_id
        except TypeError:
            values[i].fieldId = field_id
        values[i].timestamp = int(time.time() * 1e6)
        if (
            values[i].fieldId in (NVML_FI_DEV_POWER_INSTANT, NVML_FI_DEV_POWER_AVERAGE)
            and gpu["power_instant"]
        ):
            values[i].valueType = NVML_VALUE_TYPE_UNSIGNED_INT
            values[i].value.uiVal = int(round(gpu.power_w() * 1000))
            values[i].nvmlReturn = NVML_SUCCESS
        elif values[i].fieldId == NVML_FI_DEV_ENERGY and gpu["energy_counter"]:
            values[i].valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
            values[i].value.ullVal = gpu.energy_mj()
            values[i].nvmlReturn = NVML_SUCCESS
        else:
            values[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED
    return values


def nvmlDeviceGetCurrentClocksEventReasons(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    return int(_gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons")["clocks_event_reasons"])


def nvmlDeviceGetCurrentClocksThrottleReasons(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    return int(_gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons")["clocks_event_reasons"])


def nvmlDeviceGetComputeRunningProcesses(handle: c_nvmlDevice_t) -> list[_Friendly]:  # noqa: N802
    gpu = _gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
    return [
        _Friendly(
            pid=int(pid),
            usedGpuMemory=int(mem),
            gpuInstanceId=0xFFFFFFFF,
            computeInstanceId=0xFFFFFFFF,
        )
        for pid, mem in gpu["processes"]
    ]


nvmlDeviceGetComputeRunningProcesses_v3 = nvmlDeviceGetComputeRunningProcesses


def nvmlDeviceGetArchitecture(handle: c_nvmlDevice_t) -> int:  # noqa: N802
    major, _ = _gpu(handle, "nvmlDeviceGetArchitecture")["compute_capability"]
    return {7: NVML_DEVICE_ARCH_VOLTA, 8: NVML_DEVICE_ARCH_AMPERE}.get(
        int(major), NVML_DEVICE_ARCH_HOPPER
    )
