"""Fixtures every core test may use: the fake NVML machine (tests/fakes/machine.py)."""

from tests.fakes.machine import fake_nvml, fake_registry, worker_machine

__all__ = ["fake_nvml", "fake_registry", "worker_machine"]
