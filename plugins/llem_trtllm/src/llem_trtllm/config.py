"""The ``trtllm:`` section: TensorRT-LLM's LLM API knobs that change energy or speed.

Checked when the config is loaded (a ConfigError with file and line); the tensor
parallel size against ``devices`` is checked in preflight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

FLOWS = ("pytorch", "tensorrt")
DTYPES = ("auto", "float16", "bfloat16", "float32")
PRECISION_TO_DTYPE = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# QuantAlgo names of TensorRT-LLM 1.x (tensorrt_llm/quantization/mode.py).
QUANT_ALGOS = (
    "W8A16",
    "W4A16",
    "W4A16_AWQ",
    "W4A8_AWQ",
    "W8A16_GPTQ",
    "W4A16_GPTQ",
    "W8A8_SQ_PER_CHANNEL",
    "W8A8_SQ_PER_TENSOR_PLUGIN",
    "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN",
    "W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN",
    "W8A8_SQ_PER_TENSOR_PER_TOKEN_PLUGIN",
    "W4A8_QSERVE_PER_GROUP",
    "W4A8_QSERVE_PER_CHANNEL",
    "FP8",
    "FP8_PER_CHANNEL_PER_TOKEN",
    "FP8_BLOCK_SCALES",
    "INT8",
    "MIXED_PRECISION",
    "NVFP4",
    "W4A8_NVFP4_FP8",
    "W4A8_MXFP4_FP8",
    "W4A8_MXFP4_MXFP8",
    "W4A16_MXFP4",
    "MXFP8",
)
# LLM() arguments llem sets; `extra` may add to kv_cache_config/build_config as mappings.
MANAGED_ARGS = frozenset(
    {
        "model",
        "skip_tokenizer_init",
        "load_format",
        "dtype",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "max_batch_size",
        "max_num_tokens",
        "max_seq_len",
        "quant_config",
        "return_perf_metrics",
        "backend",
    }
)


def _in(options: tuple) -> Any:
    def check(_inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if value is not None and value not in options:
            raise ValueError(
                f"trtllm.{attr.name} must be one of {', '.join(map(str, options))}; got {value!r}"
            )

    return check


def _positive(_inst: Any, attr: attrs.Attribute, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"trtllm.{attr.name} must be >= 1, got {value}")


def _fraction(_inst: Any, attr: attrs.Attribute, value: float | None) -> None:
    if value is not None and not 0 < value <= 1:
        raise ValueError(
            f"trtllm.{attr.name} must be in (0, 1] (a fraction of the GPU "
            f"memory left after the weights), got {value}"
        )


def _extra(_inst: Any, _attr: attrs.Attribute, value: Mapping[str, Any]) -> None:
    clash = sorted(set(value) & MANAGED_ARGS)
    if clash:
        raise ValueError(
            f"trtllm.extra may not set {', '.join(clash)}: use the trtllm "
            f"section's own keys (or `model:`/`weights:`/`precision:`)"
        )
    for key in ("kv_cache_config", "build_config"):
        if key in value and not isinstance(value[key], Mapping):
            raise ValueError(f"trtllm.extra.{key} must be a mapping of its fields")


# Arguments of tensorrt_llm.LLM (1.x LlmArgs / TorchLlmArgs) that move energy or
# throughput and have no field here yet; each is reachable through ``extra`` meanwhile.
MISSING_KNOBS = {
    "speculative_config": "speculative decoding (draft model, EAGLE, MTP, n-gram); "
    "trtllm.extra.speculative_config",
    "cuda_graph_config": "CUDA graphs of the PyTorch flow's decode steps (batch sizes, "
    "padding); trtllm.extra.cuda_graph_config",
    "enable_chunked_prefill": "split long prefills across iterations; "
    "trtllm.extra.enable_chunked_prefill",
    "kv_cache_config.dtype": "KV cache precision (fp8); trtllm.extra.kv_cache_config.dtype",
    "disable_overlap_scheduler": "the PyTorch flow's overlap of scheduling and the GPU step; "
    "trtllm.extra.disable_overlap_scheduler",
    "scheduler_config": "capacity scheduler policy (max utilisation vs guaranteed no "
    "eviction); trtllm.extra.scheduler_config",
    "attn_backend": "the PyTorch flow's attention kernels (TRTLLM, FLASHINFER, VANILLA); "
    "trtllm.extra.attn_backend",
    "enable_attention_dp": "data-parallel attention for MoE models; "
    "trtllm.extra.enable_attention_dp",
    "torch_compile_config": "torch.compile of the PyTorch flow; trtllm.extra.torch_compile_config",
}


@attrs.frozen
class TrtllmConfig:
    """Options for ``tensorrt_llm.LLM``.

    - ``backend``: ``pytorch`` (TensorRT-LLM's default PyTorch flow) or ``tensorrt`` (an
      engine is built, cached in ``engine_cache_dir`` under a key of the model, the build
      options and the TensorRT-LLM version, and reused).
    - ``max_batch_size``: most requests scheduled per iteration; None: TensorRT-LLM's.
    - ``max_num_tokens``: most tokens per iteration (prefill + decode).
    - ``max_seq_len``: longest prompt + output; None: the model's.
    - ``tensor_parallel_size``: GPUs each layer is split over.
    - ``pipeline_parallel_size``: pipeline stages.
    - ``kv_cache_free_gpu_memory_fraction``: share of the GPU memory left after the
      weights that the KV cache takes (``kv_cache_config.free_gpu_memory_fraction``).
    - ``enable_block_reuse``: reuse KV cache blocks of shared prefixes.
    - ``dtype``: weights/activations dtype; None follows ``precision``.
    - ``quantization``: a QuantAlgo (FP8, W4A16_AWQ, NVFP4, ...) for ``quant_config``.
    - ``engine_cache_dir``: where built engines of the tensorrt flow are kept.
    - ``request_metrics``: ask for per-request perf metrics (``return_perf_metrics``),
      the source of first-token and finish times.
    - ``extra``: further ``tensorrt_llm.LLM`` arguments, passed unchanged;
      ``kv_cache_config``/``build_config`` as mappings of their fields are merged with
      what the fields above set.
    """

    backend: str = attrs.field(default="pytorch", validator=_in(FLOWS))
    max_batch_size: int | None = attrs.field(default=None, validator=_positive)
    max_num_tokens: int | None = attrs.field(default=None, validator=_positive)
    max_seq_len: int | None = attrs.field(default=None, validator=_positive)
    tensor_parallel_size: int = attrs.field(default=1, validator=_positive)
    pipeline_parallel_size: int = attrs.field(default=1, validator=_positive)
    kv_cache_free_gpu_memory_fraction: float | None = attrs.field(default=None, validator=_fraction)
    enable_block_reuse: bool | None = None
    dtype: str | None = attrs.field(default=None, validator=_in(DTYPES))
    quantization: str | None = attrs.field(default=None, validator=_in(QUANT_ALGOS))
    engine_cache_dir: str | None = None
    request_metrics: bool = True
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=_extra)

    def __attrs_post_init__(self) -> None:
        if (
            self.max_num_tokens is not None
            and self.max_batch_size is not None
            and self.max_num_tokens < self.max_batch_size
        ):
            raise ValueError(
                f"trtllm.max_num_tokens ({self.max_num_tokens}) must be >= "
                f"trtllm.max_batch_size ({self.max_batch_size}): each scheduled request "
                f"needs at least one token per iteration"
            )

    @property
    def world_size(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size
