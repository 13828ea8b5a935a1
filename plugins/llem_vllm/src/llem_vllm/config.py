"""The ``vllm:`` section of a llem config: the engine knobs that change energy or speed.

Every value is checked here, when the config is loaded, so a bad value is a ConfigError
with the file and line before any engine starts. Checks that need the experiment
(tensor parallel size vs ``devices``) run in ``VllmBackend.preflight``; checks that need
the installed vLLM (its list of quantization methods) run in ``load`` before ``LLM()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from attrs import validators as v

BLOCK_SIZES = (1, 8, 16, 32, 64, 128, 256)  # vllm/config/cache.py BlockSize
KV_CACHE_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc")
DTYPES = ("auto", "float16", "bfloat16", "float32")
PRECISION_TO_DTYPE = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# LLM() arguments llem sets itself; `extra` may not set them (use the field instead).
MANAGED_ARGS = frozenset(
    {
        "model",
        "tokenizer",
        "skip_tokenizer_init",
        "load_format",
        "dtype",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "gpu_memory_utilization",
        "max_num_seqs",
        "max_num_batched_tokens",
        "max_model_len",
        "enforce_eager",
        "enable_prefix_caching",
        "enable_chunked_prefill",
        "kv_cache_dtype",
        "quantization",
        "block_size",
        "seed",
        "disable_log_stats",
        "enable_logging_iteration_details",
    }
)


def _in(options: tuple) -> Any:
    def check(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if value is not None and value not in options:
            raise ValueError(
                f"vllm.{attr.name} must be one of {', '.join(map(str, options))}; got {value!r}"
            )

    return check


def _fraction(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(
            f"vllm.{attr.name} must be in (0, 1] (a fraction of each GPU's memory), got {value}"
        )


def _positive(_inst: Any, attr: attrs.Attribute, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"vllm.{attr.name} must be >= 1, got {value}")


def _extra(_inst: Any, _attr: attrs.Attribute, value: Mapping[str, Any]) -> None:
    clash = sorted(set(value) & MANAGED_ARGS)
    if clash:
        raise ValueError(
            f"vllm.extra may not set {', '.join(clash)}: "
            + (
                "the model comes from `model:`"
                if clash == ["model"]
                else "use the vllm section's own keys (or `weights:`/`precision:`) instead"
            )
        )


# Engine arguments of vllm.LLM (vLLM 0.26 EngineArgs) that move energy or throughput
# and have no field here yet; each is reachable through ``extra`` meanwhile.
MISSING_KNOBS = {
    "speculative_config": "speculative decoding (draft model, n-gram, EAGLE): tokens/s and "
    "J/token change by tens of %; vllm.extra.speculative_config",
    "compilation_config": "torch.compile level and CUDA-graph capture sizes; "
    "vllm.extra.compilation_config",
    "async_scheduling": "overlaps scheduling with the GPU step; vllm.extra.async_scheduling",
    "attention_config": "the attention backend (FlashAttention, FlashInfer, ...); "
    "vllm.extra.attention_config",
    "cpu_offload_gb": "weights offloaded to CPU memory (fits a larger model, slower); "
    "vllm.extra.cpu_offload_gb",
    "data_parallel_size": "engine replicas over GPUs; vllm.extra.data_parallel_size",
    "kv_cache_memory_bytes": "KV cache size in bytes instead of gpu_memory_utilization; "
    "vllm.extra.kv_cache_memory_bytes",
    "scheduling_policy": "fcfs or priority scheduling; vllm.extra.scheduling_policy",
    "disable_custom_all_reduce": "NCCL instead of vLLM's all-reduce under tensor "
    "parallelism; vllm.extra.disable_custom_all_reduce",
}


@attrs.frozen
class VllmConfig:
    """Options for vLLM's offline ``LLM`` engine (vLLM 0.26).

    - ``tensor_parallel_size``: GPUs each layer is split over (with pipeline parallel,
      must equal the number of ``devices``).
    - ``pipeline_parallel_size``: pipeline stages (GPUs the layers are spread over).
    - ``gpu_memory_utilization``: fraction of each GPU's memory vLLM may take (weights,
      activations, KV cache); more KV cache allows more concurrent sequences.
    - ``max_num_seqs``: most sequences scheduled per step (the batch size); None: vLLM's.
    - ``max_num_batched_tokens``: most tokens per step (prefill chunk + decodes).
    - ``max_model_len``: longest prompt + output; None: the model's.
    - ``enforce_eager``: no CUDA graphs (slower decode, less memory, faster start).
    - ``enable_prefix_caching``: reuse the KV cache of shared prompt prefixes.
    - ``enable_chunked_prefill``: split long prefills across steps with decodes.
    - ``kv_cache_dtype``: KV cache precision (fp8 halves its memory).
    - ``quantization``: vLLM's weight quantization method (awq, gptq, fp8, ...).
    - ``dtype``: weights/activations dtype; None follows the experiment's ``precision``.
    - ``block_size``: tokens per KV cache block.
    - ``seed``: the engine's random seed.
    - ``detokenize``: turn output ids into text inside the window (costs CPU time).
    - ``request_metrics``: keep vLLM's per-request stats on (``disable_log_stats=False``),
      where first-token and finish times come from; off, times are derived from the
      generate call.
    - ``extra``: further ``vllm.LLM`` arguments, passed unchanged (e.g.
      ``compilation_config``); not the ones the fields above set.
    """

    tensor_parallel_size: int = attrs.field(default=1, validator=_positive)
    pipeline_parallel_size: int = attrs.field(default=1, validator=_positive)
    gpu_memory_utilization: float = attrs.field(default=0.9, validator=_fraction)
    max_num_seqs: int | None = attrs.field(default=None, validator=_positive)
    max_num_batched_tokens: int | None = attrs.field(default=None, validator=_positive)
    max_model_len: int | None = attrs.field(default=None, validator=_positive)
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    kv_cache_dtype: str = attrs.field(default="auto", validator=_in(KV_CACHE_DTYPES))
    quantization: str | None = attrs.field(
        default=None, validator=v.optional(v.matches_re(r"^[a-z0-9_\-]+$"))
    )
    dtype: str | None = attrs.field(default=None, validator=_in(DTYPES))
    block_size: int | None = attrs.field(default=None, validator=_in(BLOCK_SIZES))
    seed: int = 0
    detokenize: bool = False
    request_metrics: bool = True
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=_extra)

    def __attrs_post_init__(self) -> None:
        if (
            self.max_num_batched_tokens is not None
            and self.max_num_seqs is not None
            and self.max_num_batched_tokens < self.max_num_seqs
        ):
            raise ValueError(
                f"vllm.max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= "
                f"vllm.max_num_seqs ({self.max_num_seqs}): every running sequence needs at "
                f"least one token per step"
            )
        if (
            self.enable_chunked_prefill is False
            and self.max_num_batched_tokens is not None
            and self.max_model_len is not None
            and self.max_num_batched_tokens < self.max_model_len
        ):
            raise ValueError(
                f"vllm.max_num_batched_tokens ({self.max_num_batched_tokens}) is smaller than "
                f"vllm.max_model_len ({self.max_model_len}) with chunked prefill off, so a "
                f"long prompt could never be scheduled; raise it or enable chunked prefill"
            )

    @property
    def world_size(self) -> int:
        """GPUs one engine uses: tensor x pipeline parallel."""
        return self.tensor_parallel_size * self.pipeline_parallel_size
