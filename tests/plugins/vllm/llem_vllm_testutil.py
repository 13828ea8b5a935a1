"""Helpers shared by the llem-vllm tests (a uniquely named module: tests have no
packages, so pytest puts this directory itself on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

from llem.interfaces import Device

FAKES = Path(__file__).resolve().parents[2] / "fakes"
DATA = Path(__file__).resolve().parent / "data"  # a local model dir (config.json)
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


def tiny_model() -> str:
    """The built-in tiny Llama (its architecture JSON ships with llem-core)."""
    return "builtin:tiny-llama"


def purge(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]
