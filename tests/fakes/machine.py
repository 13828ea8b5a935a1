"""Fixtures that give a test a simulated NVIDIA machine (tests/fakes/pynvml.py).

- ``fake_nvml``: the fake loaded as ``pynvml`` in this process (for code under test that
  runs in-process); libcuda is made absent so devices map through CUDA_VISIBLE_DEVICES.
- ``worker_machine``: the same for spawned workers: a site directory holding the fake
  ``pynvml.py`` and the fake backend's entry point goes first on sys.path (spawned
  children inherit the parent's sys.path); the machine is described to the child in
  LLEM_FAKE_NVML. Plugins are restricted to the fake backend (LLEM_PLUGINS=fake) and the
  baseline cache goes to a temporary directory.

tests/core/conftest.py imports the fixtures for every core test; elsewhere import them
by name into a test module or conftest.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import backend as fake_backend

FAKE_PYNVML = Path(__file__).with_name("pynvml.py")

__all__ = [
    "fake_nvml",
    "fake_registry",
    "load_fake_pynvml",
    "prepare_worker_machine",
    "worker_machine",
]


def load_fake_pynvml() -> Any:
    spec = importlib.util.spec_from_file_location("pynvml", FAKE_PYNVML)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _reset_llem_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    from llem.telemetry import cuda_driver, nvml

    monkeypatch.setattr(nvml, "_initialised", set())
    monkeypatch.setattr(cuda_driver, "load_libcuda", lambda: None)


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The fake pynvml module, installed as ``pynvml``; call ``.configure(gpus=[...])``."""
    module = load_fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", module)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    _reset_llem_nvml(monkeypatch)
    return module


@pytest.fixture
def worker_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Path]:
    """Returns ``setup(gpus=[{}], available=True) -> site_dir`` for spawned workers."""
    return prepare_worker_machine(monkeypatch, tmp_path)


def prepare_worker_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Path]:
    """The body of the ``worker_machine`` fixture, for modules that name it otherwise."""
    site = tmp_path / "fake-site"
    site.mkdir()
    shutil.copy(FAKE_PYNVML, site / "pynvml.py")
    fake_backend.install(site)
    if "pynvml" in sys.modules:  # whatever the parent had, it gets back afterwards
        monkeypatch.setitem(sys.modules, "pynvml", sys.modules["pynvml"])
    else:
        monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("LLEM_PLUGINS", fake_backend.ENTRY_POINT)
    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    importlib.invalidate_caches()

    def setup(gpus: list[dict[str, Any]] | None = None, available: bool = True) -> Path:
        monkeypatch.setenv(
            "LLEM_FAKE_NVML",
            json.dumps({"gpus": gpus if gpus is not None else [{}], "available": available}),
        )
        return site

    return setup


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A registry with the built-ins and the fake backend (in this process)."""
    from llem.plugins import load_registry

    site = tmp_path / "fake-registry-site"
    site.mkdir()
    fake_backend.install(site)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return load_registry(fake_backend.ENTRY_POINT)
