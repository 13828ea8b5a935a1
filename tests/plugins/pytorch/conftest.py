"""Shared fixtures: the tiny built-in model, loaded once per test module on the CPU."""

from __future__ import annotations

from typing import Any

import pytest
from llem.config.schema import DatasetConfig, ExperimentConfig, GenerationConfig
from llem_pytorch.backend import PytorchBackend
from llem_pytorch.config import PytorchConfig


def experiment(**fields: Any) -> ExperimentConfig:
    """An experiment on builtin:tiny-llama (random weights, fp32, CPU) with ``fields``."""
    base: dict[str, Any] = dict(
        model="builtin:tiny-llama",
        weights="random",
        precision="fp32",
        devices=(),
        dataset=DatasetConfig(num_prompts=8, input_len=16),
        generation=GenerationConfig(max_new_tokens=8),
    )
    base.update(fields)
    return ExperimentConfig(**base)


def loaded(batch_size: int = 1, **section: Any) -> PytorchBackend:
    section.setdefault("cpu_threads", 1)  # see PytorchConfig.cpu_threads: busy CI machines
    backend = PytorchBackend(PytorchConfig(batch_size=batch_size, **section))
    backend.load(experiment(), [])
    backend.keep_outputs = True
    return backend


@pytest.fixture
def make_backend():
    """A loaded tiny backend for a batch size (and section options); closed afterwards."""
    made: list[PytorchBackend] = []

    def make(batch_size: int = 1, **section: Any) -> PytorchBackend:
        made.append(loaded(batch_size, **section))
        return made[-1]

    yield make
    for backend in made:
        backend.close()


@pytest.fixture(scope="module")
def tiny() -> PytorchBackend:
    backend = loaded(batch_size=4)
    yield backend
    backend.close()


@pytest.fixture
def make_cfg():
    """``experiment`` as a fixture: an ExperimentConfig on builtin:tiny-llama."""
    return experiment


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch):
    """Make torch report ``count`` CUDA devices of ``memory_gib`` each (no real GPU)."""
    import torch

    def install(count: int = 1, memory_gib: float = 80.0) -> None:
        props = type("Props", (), {"total_memory": int(memory_gib * 2**30)})()
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)

    return install
