"""EngineArgs: a dataclass, so an unknown keyword argument is a TypeError, as in vLLM.

The fields are those of vllm/engine/arg_utils.py that llem and its users pass; value
checks mirror the ones vLLM's config classes make (pydantic there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

BLOCK_SIZES = (1, 8, 16, 32, 64, 128, 256)  # vllm/config/cache.py BlockSize
CACHE_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla")
MODEL_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
LOAD_FORMATS = (
    "auto",
    "pt",
    "safetensors",
    "npcache",
    "dummy",
    "tensorizer",
    "sharded_state",
    "gguf",
    "bitsandbytes",
    "mistral",
    "runai_streamer",
    "fastsafetensors",
)


@dataclass
class EngineArgs:
    model: str = "facebook/opt-125m"
    runner: str = "auto"
    convert: str = "auto"
    tokenizer: str | None = None
    tokenizer_mode: str = "auto"
    skip_tokenizer_init: bool = False
    trust_remote_code: bool = False
    allowed_local_media_path: str = ""
    allowed_media_domains: list[str] | None = None
    download_dir: str | None = None
    load_format: str = "auto"
    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    seed: int | None = 0
    max_model_len: int | None = None
    distributed_executor_backend: str | None = None
    pipeline_parallel_size: int = 1
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    block_size: int | None = None
    enable_prefix_caching: bool | None = None
    disable_sliding_window: bool = False
    swap_space: float = 4
    cpu_offload_gb: float = 0
    gpu_memory_utilization: float = 0.9
    kv_cache_memory_bytes: int | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    max_logprobs: int = 20
    disable_log_stats: bool = False
    revision: str | None = None
    tokenizer_revision: str | None = None
    quantization: str | None = None
    enforce_eager: bool = False
    disable_custom_all_reduce: bool = False
    enable_chunked_prefill: bool | None = None
    enable_return_routed_experts: bool = False
    hf_token: bool | str | None = None
    hf_overrides: Any = None
    mm_processor_kwargs: dict[str, Any] | None = None
    pooler_config: Any = None
    structured_outputs_config: Any = None
    profiler_config: Any = None
    attention_config: Any = None
    compilation_config: Any = None
    logits_processors: list[Any] | None = None
    served_model_name: str | list[str] | None = None
    async_scheduling: bool | None = None
    scheduling_policy: str = "fcfs"
    worker_cls: str = "auto"
    kv_transfer_config: Any = None
    speculative_config: dict[str, Any] | None = None
    override_generation_config: dict[str, Any] = field(default_factory=dict)
    generation_config: str = "auto"
    enable_logging_iteration_details: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(
                "1 validation error for CacheConfig\ngpu_memory_utilization\n  Input "
                f"should be greater than 0 and less than or equal to 1 "
                f"[input_value={self.gpu_memory_utilization}]"
            )
        if self.block_size is not None and self.block_size not in BLOCK_SIZES:
            raise ValueError(
                f"block_size: Input should be one of {BLOCK_SIZES} [input_value={self.block_size}]"
            )
        if self.kv_cache_dtype not in CACHE_DTYPES:
            raise ValueError(
                f"cache_dtype: Input should be one of {CACHE_DTYPES} "
                f"[input_value={self.kv_cache_dtype!r}]"
            )
        if self.dtype not in MODEL_DTYPES:
            raise ValueError(f"Unknown dtype: {self.dtype!r}")
        if self.load_format not in LOAD_FORMATS:
            raise ValueError(f"load_format: Input should be one of {LOAD_FORMATS}")
        if self.quantization is not None and self.quantization not in QUANTIZATION_METHODS:
            raise ValueError(
                f"Unknown quantization method: {self.quantization}. Must be "
                f"one of {QUANTIZATION_METHODS}."
            )
        for name in ("tensor_parallel_size", "pipeline_parallel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise ValueError("max_num_seqs must be >= 1")


@dataclass
class AsyncEngineArgs(EngineArgs):
    """Arguments for asynchronous vLLM engine."""

    enable_log_requests: bool = False
