"""Fixtures: real codecarbon, with the fake NVML of tests/fakes/zeus_fake where GPUs are
needed, and a guard that fails a test on any network connection."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.zeus_fake import fake_nvml

pytest.importorskip("codecarbon")


@pytest.fixture
def no_network(monkeypatch):  # type: ignore[no-untyped-def]
    """Every attempted connection is recorded and refused."""
    attempts: list = []

    def refuse(self, address):  # type: ignore[no-untyped-def]
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def in_tmp_cwd(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def codecarbon_gpus(monkeypatch):  # type: ignore[no-untyped-def]
    """``install(gpus) -> FakeNvml``: codecarbon sees these GPUs through its pynvml."""
    from llem_codecarbon.library import import_codecarbon

    import_codecarbon()
    from codecarbon.core import gpu as cc_gpu
    from codecarbon.core import gpu_nvidia, hardware_cache

    monkeypatch.setattr(hardware_cache, "_plans", {})

    def install(gpus):  # type: ignore[no-untyped-def]
        fake = fake_nvml.FakeNvml(gpus)
        fake.nvmlInit()  # codecarbon initialises NVML when it is imported
        monkeypatch.setattr(gpu_nvidia, "pynvml", fake)
        monkeypatch.setattr(cc_gpu, "PYNVML_AVAILABLE", True)
        monkeypatch.setattr(cc_gpu, "is_nvidia_system", lambda: True)
        return fake

    return install
