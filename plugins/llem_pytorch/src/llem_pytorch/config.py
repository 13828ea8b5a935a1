"""The ``pytorch:`` config section: the Transformers/PyTorch knobs that change a measurement.

Everything here is a choice a reader of the result must know to reproduce the figure
(batch size, attention kernel, cache, compilation, quantisation). Values are checked
when the config is loaded, so a typo fails before any model is built.

Compilation uses the path transformers recommends for generation: a static KV cache
(``cache_implementation="static"``) plus a ``CompileConfig``, with which ``generate``
compiles the forward of the decode steps itself. Compiling ``generate`` whole with
``torch.compile(mode="reduce-overhead")`` fails with CUDA graphs ("accessing tensor output
of CUDAGraphs that has been overwritten", seen on an H100), so llem never does that.
Compilation is off by default: it changes what is measured and needs warmup runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from attrs import validators as v

# Choices are plain strings checked by validators (not Literal types) so that a wrong
# value gets a message listing the choices, whichever way the section is built.
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
QUANTIZATIONS = ("4bit", "8bit")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# transformers' own list (generation/configuration_utils.py), minus deprecated aliases
CACHE_IMPLEMENTATIONS = ("dynamic", "static", "offloaded", "offloaded_static", "quantized")
STATIC_CACHES = ("static", "offloaded_static")
PADDING_SIDES = ("left", "right")
CB_SCHEDULERS = ("fifo", "prefill_first")  # transformers' SCHEDULER_MAPPING

# from_pretrained arguments llem sets itself from other fields; setting them through
# from_pretrained_kwargs would silently contradict the recorded configuration.
RESERVED_KWARGS = {
    "dtype": "precision",
    "torch_dtype": "precision",
    "device_map": "pytorch.device_map",
    "attn_implementation": "pytorch.attn_implementation",
    "quantization_config": "pytorch.quantization",
    "low_cpu_mem_usage": "pytorch.low_cpu_mem_usage",
}
# Transformers/PyTorch knobs that move energy or throughput and have no field here yet.
MISSING_KNOBS = {
    "assisted decoding": "a draft model (assistant_model) or prompt lookup: fewer target "
    "forwards per token; prompt lookup through pytorch.extra.prompt_lookup_num_tokens",
    "quantization_config": "GPTQ, AWQ, torchao, HQQ or FP8 weights (pytorch.quantization is "
    "bitsandbytes 4/8-bit only); not settable yet (reserved in from_pretrained_kwargs)",
    "float32 matmul precision": "TF32 tensor cores for fp32 "
    "(torch.set_float32_matmul_precision); not settable yet",
    "SDPA kernel": "which scaled-dot-product-attention kernel torch picks "
    "(torch.nn.attention.sdpa_kernel); not settable yet",
}

# GenerationConfig fields llem sets from the generation section and this one; ``extra``
# may not set them (it would contradict the recorded configuration).
MANAGED_GENERATE_KWARGS = {
    "max_new_tokens": "generation.max_new_tokens",
    "max_length": "generation.max_new_tokens",
    "min_new_tokens": "generation.min_new_tokens",
    "min_length": "generation.min_new_tokens",
    "do_sample": "generation.do_sample",
    "temperature": "generation.temperature",
    "top_p": "generation.top_p",
    "top_k": "generation.do_sample",
    "eos_token_id": "generation.ignore_eos",
    "pad_token_id": "the tokenizer",
    "cache_implementation": "pytorch.cache_implementation",
    "compile_config": "pytorch.torch_compile / pytorch.compile_mode",
}


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_inst: Any, attr: attrs.Attribute, value: str | None) -> None:
        if value is not None and value not in choices:
            raise ValueError(
                f"pytorch.{attr.name} must be one of {', '.join(choices)}"
                f"{'' if attr.default is not None else ' (or null)'}, "
                f"got {value!r}"
            )

    return check


def _no_reserved_kwargs(_inst: Any, attr: attrs.Attribute, value: Mapping[str, Any]) -> None:
    clashes = sorted(k for k in value if k in RESERVED_KWARGS)
    if clashes:
        fixes = ", ".join(f"{k} -> {RESERVED_KWARGS[k]}" for k in clashes)
        raise ValueError(
            f"pytorch.{attr.name} may not set {', '.join(clashes)}: llem sets them from "
            f"their own fields, which are recorded with the result; use {fixes}"
        )


def _no_managed_generate_kwargs(
    _inst: Any, attr: attrs.Attribute, value: Mapping[str, Any]
) -> None:
    clashes = sorted(k for k in value if k in MANAGED_GENERATE_KWARGS)
    if clashes:
        fixes = ", ".join(f"{k} -> {MANAGED_GENERATE_KWARGS[k]}" for k in clashes)
        raise ValueError(
            f"pytorch.{attr.name} may not set {', '.join(clashes)}: llem sets them from "
            f"their own fields, which are recorded with the result; use {fixes}"
        )


@attrs.frozen
class PytorchConfig:
    """Options of the ``pytorch`` backend (Transformers ``generate`` over static batches).

    - ``batch_size``: requests per ``generate`` call, taken in request order.
    - ``attn_implementation``: attention kernel; None keeps the transformers default (sdpa).
    - ``device_map``: how a model is spread over several GPUs (needs accelerate); None
      puts it on the one experiment device, and means "auto" when ``devices`` has several.
    - ``torch_compile`` / ``compile_mode``: compile the decode forward (see module doc);
      needs a static cache, which is used when ``cache_implementation`` is unset.
    - ``cache_implementation``: transformers' KV cache kind; None is its default (dynamic).
    - ``quantization``: 4- or 8-bit weights through bitsandbytes (pretrained weights only).
    - ``padding_side``: where prompts of a batch are padded; decoder-only models need left.
    - ``low_cpu_mem_usage``: passed to ``from_pretrained``.
    - ``cpu_threads``: torch intra-op threads of the worker (None: torch's default, one
      per core). On a busy CPU, spinning OpenMP threads can slow a small CPU model down
      by an order of magnitude; 1 avoids that (the quickstart uses it).
    - ``from_pretrained_kwargs``: further keyword arguments for ``from_pretrained``
      (e.g. ``revision``, ``trust_remote_code``); not the ones llem sets itself.
    - ``extra``: further fields of the ``transformers.GenerationConfig`` every
      ``generate`` call uses, passed unchanged (e.g. ``num_beams``,
      ``repetition_penalty``, ``prompt_lookup_num_tokens``); not the ones llem sets.
      The escape hatch for a knob llem does not expose yet (docs/parameters.md).
    - ``continuous_batching``: offline, hand the whole workload to transformers'
      continuous batching (``model.generate_batch``) instead of static batches of
      ``batch_size``. Serving always uses it (``ContinuousBatchingManager``).
    - ``max_batch_tokens``, ``max_requests_per_batch``, ``max_memory_percent`` (of the
      free GPU memory for the KV cache), ``num_blocks``, ``use_cuda_graph``,
      ``use_async_batching``, ``scheduler``: transformers' ``ContinuousBatchingConfig``
      fields of the same names (``scheduler`` is ``scheduler_type``); None keeps its
      automatic choice. They apply wherever continuous batching runs.
    """

    batch_size: int = attrs.field(default=1, validator=v.ge(1))
    attn_implementation: str | None = attrs.field(
        default=None, validator=_one_of(ATTN_IMPLEMENTATIONS)
    )
    device_map: str | None = attrs.field(default=None, validator=_one_of(DEVICE_MAPS))
    torch_compile: bool = False
    compile_mode: str = attrs.field(default="reduce-overhead", validator=_one_of(COMPILE_MODES))
    cache_implementation: str | None = attrs.field(
        default=None, validator=_one_of(CACHE_IMPLEMENTATIONS)
    )
    quantization: str | None = attrs.field(default=None, validator=_one_of(QUANTIZATIONS))
    padding_side: str = attrs.field(default="left", validator=_one_of(PADDING_SIDES))
    low_cpu_mem_usage: bool = True
    cpu_threads: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    from_pretrained_kwargs: Mapping[str, Any] = attrs.field(
        factory=dict, validator=_no_reserved_kwargs
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=_no_managed_generate_kwargs)
    continuous_batching: bool = False
    max_batch_tokens: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    max_requests_per_batch: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    max_memory_percent: float | None = attrs.field(
        default=None, validator=v.optional([v.gt(0), v.le(1)])
    )
    num_blocks: int | None = attrs.field(default=None, validator=v.optional(v.ge(1)))
    use_cuda_graph: bool | None = None
    use_async_batching: bool | None = None
    scheduler: str = attrs.field(default="fifo", validator=_one_of(CB_SCHEDULERS))

    def __attrs_post_init__(self) -> None:
        if self.continuous_batching and self.torch_compile:
            raise ValueError(
                "pytorch.torch_compile applies to static-batch generate; continuous batching "
                "compiles (and CUDA-graphs) its own steps (see use_cuda_graph): set "
                "torch_compile: false or continuous_batching: false"
            )
        if self.torch_compile and self.cache_implementation not in (None, *STATIC_CACHES):
            raise ValueError(
                f"pytorch.torch_compile needs a static KV cache, but cache_implementation is "
                f"{self.cache_implementation!r}; set cache_implementation: static (or leave "
                f"it unset), or torch_compile: false"
            )

    @property
    def effective_cache_implementation(self) -> str | None:
        """The cache ``generate`` is told to use: static when compiling and unset."""
        if self.torch_compile and self.cache_implementation is None:
            return "static"
        return self.cache_implementation
