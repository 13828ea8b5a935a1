"""llem-trtllm passes the backend conformance suite against the fake TensorRT-LLM,
in both flows (the fake is all this plugin has been proven against)."""

from __future__ import annotations

import pytest
from llem.testing import BackendConformance
from llem_trtllm.backend import TrtllmBackend
from llem_trtllm_testutil import fake_devices

pytestmark = pytest.mark.usefixtures("fake_trtllm")

BAD = [
    {"backend": "onnx"},
    {"kv_cache_free_gpu_memory_fraction": 1.2},
    {"tensor_parallel_size": 0},
    {"quantization": "FP3"},
    {"max_batch_size": 64, "max_num_tokens": 8},
    {"extra": {"max_batch_size": 4}},
    {"extra": {"kv_cache_config": 0.5}},
    {"dtype": "int8"},
    {"unknown": True},
]


class _Common(BackendConformance):
    backend_class = TrtllmBackend
    bad_configs = BAD
    model = "builtin:tiny-llama"
    devices = fake_devices(1)
    num_requests = 5

    def resources_in_use(self) -> float:
        from tensorrt_llm import _llem_fake

        return _llem_fake.allocated_bytes()


class TestTrtllmPytorchFlowConformance(_Common):
    config = {"backend": "pytorch", "max_batch_size": 2, "enable_block_reuse": False}


class TestTrtllmTensorrtFlowConformance(_Common):
    config = {"backend": "tensorrt", "max_batch_size": 2, "kv_cache_free_gpu_memory_fraction": 0.5}
