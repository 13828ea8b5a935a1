"""Rough GPU memory and wall-time estimates for ``llem run --dry-run``.

Memory = weights + KV cache, from the architecture config (``llem.architectures``) when the
model is built-in or a local directory; anything else is "unknown", never a guess.

- parameters and KV-cache bytes: ``llem.architectures`` (Llama-family decoders only;
  mixture-of-experts and others are "unknown").
- weight bytes per parameter: fp32 4, fp16/bf16 2; a backend section's ``quantization``
  of 8-bit kinds 1, 4-bit kinds 0.5 (embeddings kept at full width are ignored).
- KV cache: 2 x layers x kv_heads x head_dim x bytes x batch x (input_len +
  max_new_tokens); batch is the backend section's ``batch_size``, else its
  ``max_num_seqs``, else all ``dataset.num_prompts`` at once. Activations, the CUDA
  context and allocator slack are not counted.
- weights and cache are split evenly over ``devices`` (tensor parallel).

Time per run (one experiment, one cycle) = baseline (once per ``baseline.cache_ttl_s``)
+ load (none for an experiment on a kept engine, ``execution.reuse_engine``) + warmup +
thermal floor + generation. Generation is modelled as memory-bound
decoding on a ~2 TB/s GPU (each decode step reads every weight once, at least 15 ms per
step of framework overhead) plus compute-bound prefill at ~300 TFLOP/s (fp16/bf16; 40
for fp32); load is 10 s + weights at 1 GB/s. Real figures vary several-fold with the GPU
and the engine: the estimate is for planning, not for reporting.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import attrs

from llem import architectures
from llem.config.schema import ExperimentConfig

BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0}
QUANT_BYTES = {
    "8bit": 1.0,
    "int8": 1.0,
    "fp8": 1.0,
    "bitsandbytes-8bit": 1.0,
    "4bit": 0.5,
    "awq": 0.5,
    "gptq": 0.5,
    "int4": 0.5,
    "bitsandbytes": 0.5,
    "bitsandbytes-4bit": 0.5,
    "nf4": 0.5,
    "fp4": 0.5,
}
KV_BYTES = {"fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0, "int8": 1.0}
BANDWIDTH_BPS = 2.0e12
FLOPS = {"fp32": 4.0e13, "fp16": 3.0e14, "bf16": 3.0e14}
STEP_FLOOR_S = 0.015
LOAD_FIXED_S = 10.0
LOAD_BPS = 1.0e9


@attrs.frozen
class Architecture:
    """What the estimates need from a config.json."""

    params: int
    shape: architectures.Shape


@attrs.frozen
class MemoryEstimate:
    """Bytes per GPU, or None with ``note`` saying why it is unknown."""

    weights_bytes: float | None
    kv_bytes: float | None
    per_gpu_bytes: float | None
    gpus: int
    note: str | None = None


@functools.lru_cache(maxsize=256)
def architecture(model_id: str) -> Architecture | str:
    """The Architecture of ``model_id``, or why it is unknown (a str)."""
    try:
        cfg = architectures.load_architecture(model_id)
    except Exception as exc:  # an unreadable local config.json
        return f"cannot read its config.json: {type(exc).__name__}"
    if cfg is None:
        return "architecture not known offline (not builtin:, not a local directory)"
    params = architectures.count_parameters(cfg)
    dims = architectures.shape(cfg)
    if isinstance(params, str):
        return params
    if isinstance(dims, str):
        return dims
    return Architecture(params, dims)


def _section_attr(cfg: ExperimentConfig, name: str) -> Any:
    return getattr(cfg.section(cfg.backend), name, None)


def batch_size(cfg: ExperimentConfig) -> int:
    """The batch the KV cache must hold (see the module docstring)."""
    for attr in ("batch_size", "max_num_seqs"):
        value = _section_attr(cfg, attr)
        if isinstance(value, int) and value > 0:
            return min(value, cfg.dataset.num_prompts)
    return cfg.dataset.num_prompts


def weight_bytes_per_param(cfg: ExperimentConfig) -> float | str:
    quant = _section_attr(cfg, "quantization")
    if quant is None:
        return BYTES[cfg.precision]
    key = str(quant).lower()
    return QUANT_BYTES.get(key, f"quantization {quant!r} is not modelled")


def memory(cfg: ExperimentConfig) -> MemoryEstimate:
    gpus = max(1, len(cfg.devices))
    arch = architecture(cfg.model)
    if isinstance(arch, str):
        return MemoryEstimate(None, None, None, gpus, arch)
    per_param = weight_bytes_per_param(cfg)
    if isinstance(per_param, str):
        return MemoryEstimate(None, None, None, gpus, per_param)
    weights = arch.params * per_param
    kv_dtype = str(_section_attr(cfg, "kv_cache_dtype") or "auto").lower()
    kv_width = KV_BYTES.get(kv_dtype, BYTES[cfg.precision])
    tokens = (cfg.dataset.input_len_max or cfg.dataset.input_len) + cfg.generation.max_new_tokens
    kv = architectures.kv_cache_bytes(arch.shape, batch_size(cfg) * tokens, kv_width)
    return MemoryEstimate(weights, kv, (weights + kv) / gpus, gpus)


@attrs.frozen
class TimeEstimate:
    """Seconds of one run of one experiment; ``generation_s`` None when unknown."""

    fixed_s: float  # baseline share + thermal floor + load (fixed part)
    generation_s: float | None  # warmup + measured generation + weight loading

    @property
    def total_s(self) -> float | None:
        return None if self.generation_s is None else self.fixed_s + self.generation_s


def run_time(cfg: ExperimentConfig, baseline_s: float, loads: bool = True) -> TimeEstimate:
    """One run of ``cfg``; ``baseline_s`` is its share of the (cached) idle baseline;
    ``loads`` False: it runs on an engine an earlier experiment loaded (reuse_engine)."""
    fixed = baseline_s + cfg.warmup.thermal_floor_s + (LOAD_FIXED_S if loads else 0.0)
    arch = architecture(cfg.model)
    per_param = weight_bytes_per_param(cfg)
    if isinstance(arch, str) or isinstance(per_param, str):
        return TimeEstimate(fixed, None)
    weights = arch.params * per_param
    batch = batch_size(cfg)
    step = max(weights / BANDWIDTH_BPS, STEP_FLOOR_S)
    prefill = 2.0 * arch.params * batch * cfg.dataset.input_len / FLOPS[cfg.precision]
    new_tokens = cfg.generation.max_new_tokens
    batches = math.ceil(cfg.dataset.num_prompts / batch)
    measured = batches * (prefill + new_tokens * step)
    warm_tokens = 1 if cfg.warmup.mode == "fast" else new_tokens
    warmup = cfg.warmup.runs * (prefill + warm_tokens * step)
    load = weights / LOAD_BPS if loads else 0.0
    return TimeEstimate(fixed, load + warmup + measured)
