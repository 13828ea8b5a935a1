"""llem's config as TensorRT-LLM LLM(...) and SamplingParams(...) arguments (no import
of tensorrt_llm here: the objects are built from these plain values by the backend)."""

from __future__ import annotations

from typing import Any

import attrs
from llem.plugin import ExperimentConfig, GenerationConfig, Request

from llem_trtllm.config import PRECISION_TO_DTYPE, TrtllmConfig
from llem_trtllm.model_source import ModelSource


@attrs.frozen
class EnginePlan:
    """Everything needed to construct the LLM: plain kwargs plus the fields of the
    KvCacheConfig, BuildConfig (tensorrt flow) and QuantConfig to build."""

    flow: str
    kwargs: dict[str, Any]
    kv_cache: dict[str, Any]
    build: dict[str, Any] | None
    quant_algo: str | None
    dtype: str


def engine_plan(section: TrtllmConfig, cfg: ExperimentConfig, source: ModelSource) -> EnginePlan:
    dtype = section.dtype or PRECISION_TO_DTYPE[cfg.precision]
    extra = dict(section.extra)
    kv_cache = dict(extra.pop("kv_cache_config", {}))
    build_extra = dict(extra.pop("build_config", {}))
    for key, value in (
        ("free_gpu_memory_fraction", section.kv_cache_free_gpu_memory_fraction),
        ("enable_block_reuse", section.enable_block_reuse),
    ):
        if value is not None:
            kv_cache[key] = value
    kwargs: dict[str, Any] = {
        "model": source.model,
        "skip_tokenizer_init": not source.has_tokenizer,
        "load_format": "dummy" if cfg.weights == "random" else "auto",
        "dtype": dtype,
        "tensor_parallel_size": section.tensor_parallel_size,
        "pipeline_parallel_size": section.pipeline_parallel_size,
        "return_perf_metrics": section.request_metrics,
        **extra,
    }
    limits = {
        k: getattr(section, k)
        for k in ("max_batch_size", "max_num_tokens", "max_seq_len")
        if getattr(section, k) is not None
    }
    build = None
    if section.backend == "tensorrt":
        build = {**build_extra, **{k: v for k, v in limits.items() if k != "max_seq_len"}}
        if "max_seq_len" in limits:
            build["max_seq_len"] = limits["max_seq_len"]
    else:
        kwargs.update(limits)
    return EnginePlan(section.backend, kwargs, kv_cache, build, section.quantization, dtype)


def sampling_kwargs(
    request: Request, gen: GenerationConfig, *, end_id: int, perf_metrics: bool
) -> dict[str, Any]:
    """One request's SamplingParams: fixed length by default, greedy unless do_sample.

    ``end_id`` is required when TensorRT-LLM has no tokenizer (token-id prompts);
    it comes from the architecture's ``eos_token_id`` (-1 when it has none)."""
    max_tokens = request.max_new_tokens
    min_tokens = max_tokens if gen.min_new_tokens is None else min(gen.min_new_tokens, max_tokens)
    kwargs: dict[str, Any] = {
        "max_tokens": max_tokens,
        "min_tokens": min_tokens,
        "ignore_eos": gen.ignore_eos,
        "end_id": end_id,
        "pad_id": max(end_id, 0),
        "detokenize": False,
        "return_perf_metrics": perf_metrics,
    }
    if gen.do_sample:  # none of temperature/top_p/top_k given means greedy
        kwargs.update(temperature=gen.temperature, top_p=gen.top_p, seed=gen.seed + request.id)
    return kwargs


def prompt_for(request: Request) -> dict[str, Any]:
    if request.input_ids is not None:
        return {"prompt_token_ids": list(request.input_ids)}
    if request.prompt is None:
        raise ValueError(f"request {request.id} has neither token ids nor text")
    return {"prompt": request.prompt}
