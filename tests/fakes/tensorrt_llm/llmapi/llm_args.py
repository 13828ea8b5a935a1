"""Argument classes of the LLM API (tensorrt_llm/llmapi/llm_args.py), reduced to field
names and the checks llem meets. Extra fields are rejected, as pydantic's
``extra="forbid"`` does there."""

from __future__ import annotations

from typing import Any

from tensorrt_llm.builder import BuildConfig


class _Model:
    fields: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        extra = sorted(set(kwargs) - set(self.fields))
        if extra:
            raise ValueError(
                f"1 validation error for {type(self).__name__}\n{extra[0]}\n  "
                f"Extra inputs are not permitted"
            )
        for key, default in self.fields.items():
            setattr(self, key, kwargs.get(key, default))
        self._check()

    def _check(self) -> None:
        pass


class KvCacheConfig(_Model):
    fields = {
        "enable_block_reuse": True,
        "max_tokens": None,
        "max_attention_window": None,
        "sink_token_length": None,
        "free_gpu_memory_fraction": None,
        "host_cache_size": None,
        "onboard_blocks": True,
        "cross_kv_cache_fraction": None,
        "secondary_offload_min_priority": None,
        "event_buffer_max_size": 0,
        "enable_partial_reuse": True,
        "copy_on_partial_reuse": True,
        "dtype": "auto",
    }

    def _check(self) -> None:
        f = self.free_gpu_memory_fraction
        if f is not None and not 0 < f <= 1:
            raise ValueError(f"free_gpu_memory_fraction must be in (0, 1], got {f}")


def _check_common(args: Any) -> None:
    if args.load_format not in ("auto", "dummy"):
        raise ValueError(
            f"load_format: Input should be 'auto' or 'dummy' [input_value={args.load_format!r}]"
        )
    if args.dtype not in ("auto", "float16", "bfloat16", "float32"):
        raise ValueError(f"dtype {args.dtype!r} is not supported")
    if args.kv_cache_config is not None and not isinstance(args.kv_cache_config, KvCacheConfig):
        raise ValueError("kv_cache_config must be a KvCacheConfig")


_COMMON = {
    "model": None,
    "tokenizer": None,
    "tokenizer_mode": "auto",
    "skip_tokenizer_init": False,
    "trust_remote_code": False,
    "tensor_parallel_size": 1,
    "dtype": "auto",
    "revision": None,
    "tokenizer_revision": None,
    "pipeline_parallel_size": 1,
    "context_parallel_size": 1,
    "gpus_per_node": None,
    "moe_cluster_parallel_size": None,
    "moe_tensor_parallel_size": None,
    "moe_expert_parallel_size": None,
    "enable_attention_dp": False,
    "cp_config": None,
    "load_format": "auto",
    "enable_lora": False,
    "lora_config": None,
    "quant_config": None,
    "kv_cache_config": None,
    "enable_chunked_prefill": False,
    "guided_decoding_backend": None,
    "batched_logits_processor": None,
    "iter_stats_max_iterations": None,
    "request_stats_max_iterations": None,
    "peft_cache_config": None,
    "scheduler_config": None,
    "cache_transceiver_config": None,
    "speculative_config": None,
    "max_batch_size": None,
    "max_input_len": None,
    "max_seq_len": None,
    "max_beam_width": None,
    "max_num_tokens": None,
    "gather_generation_logits": False,
    "num_postprocess_workers": 0,
    "postprocess_tokenizer_dir": None,
    "reasoning_parser": None,
    "return_perf_metrics": False,
    "orchestrator_type": None,
    "backend": None,
}


class TorchLlmArgs(_Model):
    fields = {
        **_COMMON,
        "backend": "pytorch",
        "cuda_graph_config": None,
        "disable_overlap_scheduler": False,
        "moe_config": None,
        "attn_backend": "TRTLLM",
        "sampler_type": "auto",
        "enable_iter_perf_stats": False,
        "print_iter_log": False,
        "torch_compile_config": None,
        "checkpoint_format": None,
        "stream_interval": 1,
        "garbage_collection_gen0_threshold": 20000,
    }

    def _check(self) -> None:
        _check_common(self)


class TrtLlmArgs(_Model):
    fields = {
        **_COMMON,
        "build_config": None,
        "workspace": None,
        "enable_build_cache": False,
        "extended_runtime_perf_knob_config": None,
        "calib_config": None,
        "embedding_parallel_mode": "SHARDING_ALONG_VOCAB",
        "fast_build": False,
        "normalize_log_probs": False,
        "enable_tqdm": False,
        "decoding_config": None,
        "batching_type": None,
        "auto_parallel": False,
    }

    def _check(self) -> None:
        _check_common(self)
        if self.build_config is None:
            self.build_config = BuildConfig()
        elif not isinstance(self.build_config, BuildConfig):
            raise ValueError("build_config must be a BuildConfig")
