"""Which of Zeus's GPUs is which llem Device: matched by NVML UUID, never by index.

Zeus takes CUDA-style indices and builds its GPU list from ``CUDA_VISIBLE_DEVICES``
read as NVML indices (``zeus.device.gpu.nvidia.NVIDIAGPUs._init_gpus``); without it, index
i is NVML device i. That equals CUDA's numbering only when CUDA enumerates in PCI bus
order (``CUDA_DEVICE_ORDER=PCI_BUS_ID``). llem resolved its Devices by UUID, so here each
Zeus GPU object's NVML handle is asked for its UUID and the Zeus index of every Device is
the position of its UUID -- the device Zeus reads is provably the one llem resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llem.plugin import Device

ORDER_FIX = (
    "set CUDA_DEVICE_ORDER=PCI_BUS_ID (so CUDA and NVML number GPUs alike) and give "
    "CUDA_VISIBLE_DEVICES as integer indices, or use energy.meter: nvml"
)


class DeviceMismatch(Exception):
    """A Device llem resolved is not among the GPUs Zeus can see."""

    def __init__(self, reason: str, fix: str = ORDER_FIX) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def zeus_gpu_uuids(gpus: Any) -> list[str]:
    """UUID of each GPU in Zeus's list, asked through Zeus's own NVML handles."""
    from zeus.device.gpu import nvidia as zeus_nvidia

    uuids = []
    for gpu in gpus.gpus:
        handle = getattr(gpu, "handle", None)
        if handle is None:
            raise DeviceMismatch(
                f"Zeus manages {type(gpu).__name__} devices, not NVIDIA GPUs through NVML; "
                "llem's devices are NVML devices",
                fix="use energy.meter: nvml",
            )
        uuid = zeus_nvidia.pynvml.nvmlDeviceGetUUID(handle)
        uuids.append(uuid.decode() if isinstance(uuid, bytes) else uuid)
    return uuids


def match_devices(devices: Sequence[Device], zeus_uuids: Sequence[str]) -> dict[str, int]:
    """Device UUID -> index into Zeus's GPU list (what ``gpu_indices`` means to Zeus)."""
    mapping: dict[str, int] = {}
    for device in devices:
        if device.uuid not in zeus_uuids:
            raise DeviceMismatch(
                f"GPU {device.uuid} (CUDA index {device.cuda_index}, NVML index "
                f"{device.nvml_index}) is not among the GPUs Zeus sees "
                f"({', '.join(zeus_uuids) or 'none'}; CUDA_VISIBLE_DEVICES="
                f"{_visible()!r}): Zeus reads CUDA_VISIBLE_DEVICES as NVML indices"
            )
        mapping[device.uuid] = list(zeus_uuids).index(device.uuid)
    return mapping


def check_visible_devices_format() -> None:
    """Zeus parses CUDA_VISIBLE_DEVICES with ``int()``; UUIDs or MIG ids break it."""
    value = _visible()
    if value is None:
        return
    items = [v.strip() for v in value.split(",")]
    if not all(v.isdigit() for v in items):
        raise DeviceMismatch(
            f"CUDA_VISIBLE_DEVICES={value!r}: Zeus understands only comma-separated integer "
            "GPU indices (no UUIDs, no MIG instances, not empty)",
            fix="give CUDA_VISIBLE_DEVICES as integer indices (with "
            "CUDA_DEVICE_ORDER=PCI_BUS_ID), or use energy.meter: nvml",
        )


def _visible() -> str | None:
    import os

    return os.environ.get("CUDA_VISIBLE_DEVICES")
