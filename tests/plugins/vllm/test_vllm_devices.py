"""vLLM in this process cannot be moved onto other GPUs once CUDA is initialised."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from llem.errors import PreflightError
from llem_vllm.devices import VisibleDevices
from llem_vllm_testutil import fake_devices

IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def test_in_process_vllm_with_cuda_initialised_is_refused_only_when_narrowing(monkeypatch):
    cuda = SimpleNamespace(is_initialized=lambda: True)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    VisibleDevices(dict(IN_PROCESS)).apply(fake_devices(2))  # GPUs 0, 1: nothing to move
    env = dict(IN_PROCESS)
    with pytest.raises(PreflightError, match="VLLM_ENABLE_V1_MULTIPROCESSING=0"):
        VisibleDevices(env).apply(fake_devices(2)[1:])
    assert env == IN_PROCESS
    multiprocess: dict[str, str] = {}
    VisibleDevices(multiprocess).apply(fake_devices(2)[1:])
    assert multiprocess == {"CUDA_VISIBLE_DEVICES": "1"}
