"""llem-vllm passes the backend conformance suite against the fake vLLM."""

from __future__ import annotations

import pytest
from llem.testing import BackendConformance
from llem_vllm.backend import VllmBackend
from llem_vllm_testutil import fake_devices, tiny_model

pytestmark = pytest.mark.usefixtures("fake_vllm")


class TestVllmConformance(BackendConformance):
    backend_class = VllmBackend
    config = {"gpu_memory_utilization": 0.5, "max_num_seqs": 2, "seed": 1}
    bad_configs = [
        {"gpu_memory_utilization": 1.5},
        {"gpu_memory_utilization": 0},
        {"block_size": 12},
        {"tensor_parallel_size": 0},
        {"kv_cache_dtype": "int3"},
        {"dtype": "float8"},
        {"max_num_seqs": 64, "max_num_batched_tokens": 32},
        {"extra": {"max_num_seqs": 4}},
        {"no_such_key": 1},
    ]
    model = tiny_model()
    devices = fake_devices(1)
    num_requests = 5  # more than max_num_seqs: the engine queues, as in production

    def resources_in_use(self) -> float:
        from vllm import _llem_fake

        return _llem_fake.allocated_bytes()
