"""The PyTorch backend passes the conformance suite on the CPU with builtin:tiny-llama."""

from __future__ import annotations

import pytest
from llem.testing import BackendConformance

pytorch = pytest.importorskip("llem_pytorch.backend")


class TestPytorchConformance(BackendConformance):
    backend_class = pytorch.PytorchBackend
    config = {"batch_size": 2}
    bad_configs = [{"batch_size": 0}, {"attn_implementation": "magic"}, {"nope": 1}]
    model = "builtin:tiny-llama"
    experiment = {"devices": (), "precision": "fp32"}
    num_requests = 3
