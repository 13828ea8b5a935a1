"""On a real NVIDIA GPU (pytest -m gpu): random-weight Llama-3.2-1B, timing, compile.

Run on the GPU machine with: python -m pytest tests/plugins/pytorch/test_gpu.py -m gpu -q
"""

from __future__ import annotations

import importlib.util
import statistics
import time

import pytest
from llem.config.schema import DatasetConfig, GenerationConfig, WarmupConfig
from llem.interfaces import Device
from llem.measure.workload import build_requests
from llem_pytorch.backend import PytorchBackend
from llem_pytorch.config import PytorchConfig

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _device(index: int) -> Device:
    return Device(
        cuda_index=index,
        nvml_index=index,
        uuid=f"GPU-{index}",
        pci_bus_id="",
        name=torch.cuda.get_device_name(index),
        memory_total_bytes=torch.cuda.get_device_properties(index).total_memory,
    )


def _cfg(make_cfg, **fields):
    base = dict(
        model="builtin:llama-3.2-1b",
        precision="bf16",
        devices=(0,),
        dataset=DatasetConfig(num_prompts=16, input_len=128),
        generation=GenerationConfig(max_new_tokens=32),
    )
    base.update(fields)
    return make_cfg(**base)


def _run(section: PytorchConfig, cfg, devices, runs: int = 2):
    backend = PytorchBackend(section)
    assert backend.preflight(cfg) == []
    start = time.perf_counter()
    backend.load(cfg, devices)
    load_s = time.perf_counter() - start
    requests = build_requests(cfg.dataset, cfg.generation, backend.vocab_size)
    records = None
    for _ in range(runs):  # the first run warms up (and compiles, when asked)
        records = backend.generate(requests, cfg.generation)
        backend.synchronize()
    return backend, load_s, requests, records


def test_llama_3_2_1b_random_weights_build_on_the_gpu_quickly(make_cfg) -> None:
    cfg = _cfg(make_cfg)
    backend, load_s, _, records = _run(PytorchConfig(batch_size=8), cfg, [_device(0)])
    try:
        assert backend.num_parameters == 1_235_814_400
        assert load_s < 15, load_s
        assert {p.device.type for p in backend.model.parameters()} == {"cuda"}
        assert {p.dtype for p in backend.model.parameters()} == {torch.bfloat16}
        assert [r.output_tokens for r in records] == [32] * 16
    finally:
        backend.close()


def test_step_stamps_follow_the_gpu_not_the_launch_queue(make_cfg) -> None:
    """Each stamp waits for its token (the host copy syncs): decode steps of a 1B model
    at batch 8 take milliseconds, so the gaps are not the microseconds of kernel launch."""
    cfg = _cfg(make_cfg)
    backend, _, _, records = _run(PytorchConfig(batch_size=8), cfg, [_device(0)])
    try:
        for record in records:
            times = record.token_times_ns
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert statistics.median(gaps) > 1_000_000, gaps  # > 1 ms per decode step
            assert record.t_submit_ns < record.t_first_token_ns < record.t_end_ns
        # the second batch is submitted after the first one ends
        assert records[8].t_submit_ns >= records[7].t_end_ns
    finally:
        backend.close()


def test_compiled_decoding_with_a_static_cache_runs(make_cfg) -> None:
    cfg = _cfg(make_cfg, warmup=WarmupConfig(runs=1))
    section = PytorchConfig(batch_size=8, torch_compile=True)
    backend, _, _, records = _run(section, cfg, [_device(0)], runs=3)
    try:
        assert [r.output_tokens for r in records] == [32] * 16
    finally:
        backend.close()


@pytest.mark.skipif(
    torch.cuda.device_count() < 2 or importlib.util.find_spec("accelerate") is None,
    reason="needs two GPUs and accelerate",
)
def test_random_weights_spread_over_two_gpus(make_cfg) -> None:
    cfg = _cfg(make_cfg, devices=(0, 1))
    backend, _, _, records = _run(PytorchConfig(batch_size=8), cfg, [_device(0), _device(1)])
    try:
        assert {p.device.index for p in backend.model.parameters()} == {0, 1}
        assert [r.output_tokens for r in records] == [32] * 16
    finally:
        backend.close()
