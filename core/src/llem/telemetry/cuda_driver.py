"""Which physical GPUs the CUDA ordinals of this process are, asked of the CUDA driver.

The driver API (libcuda) applies CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER itself, so
its answer is the truth for this process; NVML enumerates every GPU in PCI order and
knows nothing of either variable. libcuda is asked through ctypes (no torch): cuInit,
cuDeviceGet, cuDeviceGetPCIBusId and cuDeviceGetUuid.

The question is asked in a short-lived child process (this file run as a script, with
the same environment), never in the worker itself: after cuInit a process may no longer
fork children that use CUDA, and engines fork (vLLM decides between fork and spawn by
asking torch, which would not know that the driver had been initialised).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys

import attrs

QUERY_TIMEOUT_S = 60.0

CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
LIBRARY_NAMES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


@attrs.frozen
class CudaDevice:
    ordinal: int
    pci_bus_id: str  # "0000:17:00.0"
    uuid: str | None  # "GPU-xxxxxxxx-xxxx-...", None when the driver would not say


def load_libcuda() -> ctypes.CDLL | None:
    """The CUDA driver library, or None when it is not installed (CPU machines, CI)."""
    names = list(LIBRARY_NAMES)
    found = ctypes.util.find_library("cuda")
    if found:
        names.append(found)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def visible_devices(lib: ctypes.CDLL) -> list[CudaDevice] | None:
    """The GPUs CUDA shows this process, in ordinal order; None if cuInit fails for a
    reason other than "no device" (an empty list when every GPU is hidden)."""
    status = lib.cuInit(0)
    if status == CUDA_ERROR_NO_DEVICE:
        return []
    if status != CUDA_SUCCESS:
        return None
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != CUDA_SUCCESS:
        return None
    devices = []
    for ordinal in range(count.value):
        handle = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(handle), ordinal) != CUDA_SUCCESS:
            return None
        buf = ctypes.create_string_buffer(64)
        if lib.cuDeviceGetPCIBusId(buf, 64, handle) != CUDA_SUCCESS:
            return None
        devices.append(CudaDevice(ordinal, buf.value.decode(), _uuid(lib, handle)))
    return devices


def _uuid(lib: ctypes.CDLL, handle: ctypes.c_int) -> str | None:
    raw = (ctypes.c_ubyte * 16)()
    getter = getattr(lib, "cuDeviceGetUuid_v2", None) or getattr(lib, "cuDeviceGetUuid", None)
    if getter is None or getter(ctypes.byref(raw), handle) != CUDA_SUCCESS:
        return None
    h = bytes(raw).hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def query() -> list[CudaDevice] | None:
    """The CUDA devices of a process with this environment, asked in a child process;
    None when libcuda is absent or the question could not be answered."""
    if load_libcuda() is None:
        return None
    try:
        done = subprocess.run(
            [sys.executable, __file__],
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
        data = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if data is None:
        return None
    return [CudaDevice(int(d["ordinal"]), str(d["pci_bus_id"]), d.get("uuid")) for d in data]


def _main() -> None:
    lib = load_libcuda()
    devices = visible_devices(lib) if lib is not None else None
    print(json.dumps(None if devices is None else [attrs.asdict(d) for d in devices]))


if __name__ == "__main__":
    _main()
