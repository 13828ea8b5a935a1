"""The pytorch backend passes llem's plugin conformance checks (llem.testing)."""

from __future__ import annotations

from llem.testing import BackendConformance
from llem_pytorch.backend import PytorchBackend


class TestPytorchConformance(BackendConformance):
    backend_class = PytorchBackend
    config = {"batch_size": 3, "attn_implementation": "sdpa", "cpu_threads": 1}
    bad_configs = [
        {"batch_size": 0},
        {"attn_implementation": "flash"},
        {"quantization": "2bit"},
        {"from_pretrained_kwargs": {"dtype": "float16"}},
        {"batch_sise": 2},
    ]
    experiment = {"precision": "fp32"}
