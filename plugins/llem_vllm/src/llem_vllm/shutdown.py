"""Give vLLM's GPU memory back so the next experiment starts from the idle baseline.

vLLM (V1) runs its engine core, and for tensor parallelism its workers, in child
processes; stopping them is what frees the GPU. Then the leftovers of this process go:
the LLM object, vLLM's model-parallel groups and torch.distributed (if any), and
PyTorch's cached blocks.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


def shutdown_engine(llm: Any) -> list[str]:
    """Stop the engine core and workers behind ``llm``; returns the calls made."""
    done: list[str] = []
    stop = getattr(llm, "shutdown", None)
    if callable(stop):  # newer vLLM: LLM.shutdown()
        stop()
        return ["LLM.shutdown"]
    engine: Any = getattr(llm, "llm_engine", None)
    if callable(getattr(engine, "shutdown", None)):
        engine.shutdown()
        done.append("llm_engine.shutdown")
    elif callable(getattr(getattr(engine, "engine_core", None), "shutdown", None)):
        engine.engine_core.shutdown()
        done.append("llm_engine.engine_core.shutdown")
    return done


def release_process_state() -> list[str]:
    """Collect garbage, destroy vLLM's parallel state, empty PyTorch's CUDA cache."""
    done = ["gc.collect"]
    gc.collect()
    try:
        from vllm.distributed.parallel_state import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )
    except ImportError:
        pass
    else:
        destroy_model_parallel()
        destroy_distributed_environment()
        done.append("destroy_model_parallel+destroy_distributed_environment")
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
        done.append("torch.cuda.empty_cache")
    return done
