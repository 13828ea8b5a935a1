"""Helpers for the llem-trtllm tests (uniquely named: pytest puts this dir on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

from llem.interfaces import Device

FAKES = Path(__file__).resolve().parents[2] / "fakes"
GIB = 1 << 30


def fake_devices(n: int) -> tuple[Device, ...]:
    return tuple(
        Device(
            cuda_index=i,
            nvml_index=i,
            uuid=f"GPU-fake-{i}",
            pci_bus_id=f"00000000:{i + 1:02x}:00.0",
            name="Fake H100",
            memory_total_bytes=80 * GIB,
        )
        for i in range(n)
    )


def purge(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]
