"""What the numbers of an experiment depend on, recorded before any work is done.

GPUs (name, UUID, PCI id, VRAM, compute capability, persistence mode, power limit,
clocks), driver and CUDA driver versions, CPU, RAM, Python, engine versions and the
versions of llem and every plugin. Engine versions come from importlib.metadata: an
engine is never imported just to learn its version.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import llem
from llem.interfaces import Device
from llem.results.schema import Environment, GpuInfo
from llem.telemetry.nvml import NvmlUnavailable, nvml, optional, text

ENGINE_DISTRIBUTIONS = (
    "torch",
    "transformers",
    "accelerate",
    "bitsandbytes",
    "flash-attn",
    "vllm",
    "tensorrt-llm",
    "tensorrt",
    "triton",
    "zeus",
    "codecarbon",
    "nvidia-ml-py",
    "datasets",
    "numpy",
)


def snapshot(
    devices: Sequence[Device],
    plugins: Sequence[Any] = (),
    gpu_unavailable_reason: str | None = None,
) -> Environment:
    """The Environment of this worker; ``plugins`` are the registry's PluginInfo."""
    gpus: tuple[GpuInfo, ...] = ()
    driver = cuda_driver = None
    try:
        lib = nvml()
        driver = text(lib.nvmlSystemGetDriverVersion())
        cuda_driver = _cuda_version(optional("nvmlSystemGetCudaDriverVersion"))
        gpus = tuple(gpu_info(lib, d) for d in devices)
    except NvmlUnavailable as exc:
        gpu_unavailable_reason = gpu_unavailable_reason or exc.reason
    return Environment(
        gpus=gpus,
        driver_version=driver,
        cuda_driver_version=cuda_driver,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        ram_bytes=ram_bytes(),
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        llem_version=llem.__version__,
        plugin_versions={p.name: p.version for p in plugins if p.status == "ok"},
        engine_versions=engine_versions(),
        gpu_unavailable_reason=gpu_unavailable_reason,
    )


def gpu_info(lib: Any, device: Device) -> GpuInfo:
    handle = lib.nvmlDeviceGetHandleByUUID(device.uuid)
    cc = optional("nvmlDeviceGetCudaComputeCapability", handle)
    persistence = optional("nvmlDeviceGetPersistenceMode", handle)
    limit_mw = optional("nvmlDeviceGetEnforcedPowerLimit", handle) or optional(
        "nvmlDeviceGetPowerManagementLimit", handle
    )
    return GpuInfo(
        cuda_index=device.cuda_index,
        nvml_index=device.nvml_index,
        uuid=device.uuid,
        pci_bus_id=device.pci_bus_id,
        name=device.name,
        memory_total_bytes=device.memory_total_bytes,
        compute_capability=None if cc is None else f"{cc[0]}.{cc[1]}",
        persistence_mode=None if persistence is None else bool(persistence),
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        sm_clock_mhz=optional("nvmlDeviceGetClockInfo", handle, 1),
        mem_clock_mhz=optional("nvmlDeviceGetClockInfo", handle, 2),
        max_sm_clock_mhz=optional("nvmlDeviceGetMaxClockInfo", handle, 1),
    )


def engine_versions() -> dict[str, str]:
    found = {}
    for dist in ENGINE_DISTRIBUTIONS:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def ram_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def _cuda_version(raw: int | None) -> str | None:
    """NVML's 12040 -> "12.4"."""
    if raw is None:
        return None
    return f"{raw // 1000}.{(raw % 1000) // 10}"
