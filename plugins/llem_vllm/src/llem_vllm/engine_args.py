"""Translate llem's config into vLLM's ``LLM(...)`` and ``SamplingParams(...)`` arguments.

Pure functions (no vLLM import) so they are tested directly.
"""

from __future__ import annotations

from typing import Any

from llem.plugin import ExperimentConfig, GenerationConfig, Request

from llem_vllm.config import PRECISION_TO_DTYPE, VllmConfig
from llem_vllm.model_source import ModelSource

_OPTIONAL = (
    "max_num_seqs",
    "max_num_batched_tokens",
    "max_model_len",
    "enable_prefix_caching",
    "enable_chunked_prefill",
    "quantization",
    "block_size",
)


def llm_kwargs(section: VllmConfig, cfg: ExperimentConfig, source: ModelSource) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: llem's choices, the section, then ``extra``."""
    kwargs: dict[str, Any] = {
        "model": source.model,
        "skip_tokenizer_init": not source.has_tokenizer,
        "load_format": "dummy" if cfg.weights == "random" else "auto",
        "dtype": section.dtype or PRECISION_TO_DTYPE[cfg.precision],
        "tensor_parallel_size": section.tensor_parallel_size,
        "pipeline_parallel_size": section.pipeline_parallel_size,
        "gpu_memory_utilization": section.gpu_memory_utilization,
        "enforce_eager": section.enforce_eager,
        "kv_cache_dtype": section.kv_cache_dtype,
        "seed": section.seed,
        "disable_log_stats": not section.request_metrics,
    }
    if section.request_metrics:  # per-step token counts for attribution (steps.py)
        kwargs["enable_logging_iteration_details"] = True
    for name in _OPTIONAL:
        value = getattr(section, name)
        if value is not None:
            kwargs[name] = value
    kwargs.update(section.extra)
    return kwargs


def sampling_kwargs(request: Request, gen: GenerationConfig, *, detokenize: bool) -> dict[str, Any]:
    """Keyword arguments for one request's ``vllm.SamplingParams``.

    Fixed-length generation by default: ``min_tokens = max_tokens`` and EOS ignored, so
    every configuration produces the same number of tokens and runs compare.
    """
    max_tokens = request.max_new_tokens
    min_tokens = max_tokens if gen.min_new_tokens is None else min(gen.min_new_tokens, max_tokens)
    kwargs: dict[str, Any] = {
        "max_tokens": max_tokens,
        "min_tokens": min_tokens,
        "ignore_eos": gen.ignore_eos,
        "detokenize": detokenize,
    }
    if gen.do_sample:
        kwargs.update(temperature=gen.temperature, top_p=gen.top_p, seed=gen.seed + request.id)
    else:
        kwargs.update(temperature=0.0)
    return kwargs


def prompt_for(request: Request) -> dict[str, Any]:
    """A TokensPrompt when the request carries token ids, else a TextPrompt."""
    if request.input_ids is not None:
        return {"prompt_token_ids": list(request.input_ids)}
    if request.prompt is None:
        raise ValueError(f"request {request.id} has neither token ids nor text")
    return {"prompt": request.prompt}
