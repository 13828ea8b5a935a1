"""What the fake simulates instead of a GPU (not part of TensorRT-LLM).

Environment: ``LLEM_FAKE_TRTLLM_GPUS`` (GPUs visible; default: CUDA_VISIBLE_DEVICES
entries, else 1), ``LLEM_FAKE_TRTLLM_GPU_BYTES`` (80 GiB), ``LLEM_FAKE_TRTLLM_START_S``
(0.05 s), ``LLEM_FAKE_TRTLLM_BUILD_S`` (an engine build, 0.2 s),
``LLEM_FAKE_TRTLLM_STEP_S`` (1 ms per iteration).

Memory: an LLM takes its weights plus ``free_gpu_memory_fraction`` (default 0.9) of the
free memory of every GPU of its world for the KV cache, and gives it back at
``shutdown``. With less than 1 GiB free the start fails (CUDA out of memory).
"""

from __future__ import annotations

import os
import threading

GIB = 1 << 30
_lock = threading.Lock()
_allocations: dict[int, dict[int, int]] = {}
builds: list[str] = []  # engine directories built, in order (tests count cache misses)


def visible_gpus() -> int:
    if "LLEM_FAKE_TRTLLM_GPUS" in os.environ:
        return int(os.environ["LLEM_FAKE_TRTLLM_GPUS"])
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    return len([d for d in cvd.split(",") if d.strip()]) if cvd is not None else 1


def knob(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def allocate(owner: int, world: int, weights: int, fraction: float) -> None:
    with _lock:
        total = int(knob("LLEM_FAKE_TRTLLM_GPU_BYTES", 80 * GIB))
        for gpu in range(world):
            free = total - sum(a.get(gpu, 0) for a in _allocations.values())
            if free - weights < GIB:
                raise RuntimeError(
                    f"[TensorRT-LLM][ERROR] CUDA runtime error in "
                    f"cudaMalloc: out of memory (GPU {gpu}: {free} bytes free)"
                )
        _allocations[owner] = {}
        for gpu in range(world):
            free = total - sum(a.get(gpu, 0) for a in _allocations.values())
            _allocations[owner][gpu] = weights + int((free - weights) * fraction)


def release(owner: int) -> None:
    with _lock:
        _allocations.pop(owner, None)


def allocated_bytes() -> int:
    with _lock:
        return sum(sum(a.values()) for a in _allocations.values())


def live_engines() -> int:
    with _lock:
        return len(_allocations)
