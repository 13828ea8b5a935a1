"""Fixtures that put a fake NVML and a fake RAPL sysfs tree under the real Zeus.

Zeus keeps process-wide singletons (``zeus.device.gpu._gpus``, ``zeus.device.cpu._cpus``)
and lru-cached availability checks; each fixture resets them so a test sees exactly the
machine it built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fakes.zeus_fake import fake_nvml

pytest.importorskip("zeus")


@pytest.fixture
def zeus_machine(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Returns ``install(gpus, available=True) -> FakeNvml``; RAPL absent unless a test
    builds a tree with ``rapl_tree``."""
    import zeus.device.cpu as zeus_cpu
    import zeus.device.gpu as zeus_gpu
    import zeus.device.gpu.nvidia as zeus_nvidia
    from zeus.device.cpu import rapl as zeus_rapl

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("ZEUSD_SOCK_PATH", raising=False)
    monkeypatch.delenv("ZEUSD_HOST_PORT", raising=False)
    monkeypatch.setattr(zeus_cpu, "_cpus", None)
    monkeypatch.setattr(zeus_rapl, "RAPL_DIR", str(tmp_path / "no-rapl"))
    monkeypatch.setattr(zeus_rapl, "CONTAINER_RAPL_DIR", str(tmp_path / "no-rapl-container"))
    zeus_rapl.rapl_is_available.cache_clear()

    def install(gpus, available=True):  # type: ignore[no-untyped-def]
        fake = fake_nvml.FakeNvml(gpus, available=available)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        monkeypatch.setattr(zeus_nvidia, "pynvml", fake)
        monkeypatch.setattr(zeus_gpu, "_gpus", None)
        zeus_nvidia.nvml_is_available.cache_clear()
        return fake

    yield install
    zeus_nvidia.nvml_is_available.cache_clear()
    zeus_rapl.rapl_is_available.cache_clear()


class RaplTree:
    """A sysfs powercap tree: ``intel-rapl:N`` packages, optional ``dram`` subzones."""

    def __init__(self, base: Path, packages: int, dram: bool) -> None:
        self.base = base
        for n in range(packages):
            self._zone(base / f"intel-rapl:{n}", f"package-{n}", 5_000_000)
            if dram:
                self._zone(base / f"intel-rapl:{n}" / f"intel-rapl:{n}:0", "dram", 1_000_000)

    @staticmethod
    def _zone(path: Path, name: str, energy_uj: int) -> None:
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{energy_uj}\n")
        (path / "max_energy_range_uj").write_text("262143328850\n")

    def add(self, package: int, cpu_uj: int, dram_uj: int = 0) -> None:
        zone = self.base / f"intel-rapl:{package}"
        self._bump(zone / "energy_uj", cpu_uj)
        dram = zone / f"intel-rapl:{package}:0" / "energy_uj"
        if dram.exists():
            self._bump(dram, dram_uj)

    @staticmethod
    def _bump(path: Path, delta: int) -> None:
        path.write_text(f"{int(path.read_text()) + delta}\n")


class _NoWraparoundTracker:
    """Stands in for Zeus's per-file polling process (spawned on the first read)."""

    def __init__(self, rapl_file_path: str, max_energy_uj: float) -> None:
        self.path = rapl_file_path

    def get_num_wraparounds(self) -> int:
        return 0


@pytest.fixture
def rapl_tree(monkeypatch, tmp_path, zeus_machine):  # type: ignore[no-untyped-def]
    """Returns ``build(packages=1, dram=True) -> RaplTree`` wired into Zeus's RAPL_DIR."""
    from zeus.device.cpu import rapl as zeus_rapl

    def build(packages: int = 1, dram: bool = True, real_trackers: bool = False) -> RaplTree:
        """``real_trackers``: let Zeus spawn its polling processes (slower)."""
        if not real_trackers:
            monkeypatch.setattr(zeus_rapl, "RaplWraparoundTracker", _NoWraparoundTracker)
        base = tmp_path / "powercap" / "intel-rapl"
        tree = RaplTree(base, packages, dram)
        monkeypatch.setattr(zeus_rapl, "RAPL_DIR", str(base))
        zeus_rapl.rapl_is_available.cache_clear()
        return tree

    return build
