"""Building the model: random weights from an architecture, or pretrained weights.

Random weights are created where they will run, in the target dtype: under a
``torch.device`` context ``from_config`` allocates and initialises every tensor on that
device directly (a 1.24 B-parameter Llama appears on an H100 in under a second, with no
copy through host memory). On the ``meta`` device nothing is allocated at all, which is
how the parameter count of a large architecture is known without memory.

Over several GPUs the model is built on ``meta``, spread by accelerate's device map,
each part materialised on its GPU and initialised there, then dispatched with
accelerate's hooks that move activations between GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from llem.plugin import PreflightError

from llem_pytorch.config import PytorchConfig
from llem_pytorch.model_source import ModelSource, unreachable_message

log = structlog.get_logger()

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(precision: str) -> Any:
    import torch

    return getattr(torch, DTYPES[precision])


def random_model(config: Any, dtype: Any, device: Any, attn: str | None) -> Any:
    """A model with freshly initialised weights, built on ``device`` (may be "meta")."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn is not None:
        kwargs["attn_implementation"] = attn
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, **kwargs)


def random_model_sharded(
    config: Any, dtype: Any, cuda_indices: Sequence[int], section: PytorchConfig
) -> Any:
    """Random weights spread over several GPUs with accelerate (see the module doc)."""
    from accelerate import dispatch_model, infer_auto_device_map

    model = random_model(config, dtype, "meta", section.attn_implementation)
    device_map = infer_auto_device_map(
        model,
        max_memory=_max_memory(cuda_indices),
        no_split_module_classes=list(getattr(model, "_no_split_modules", None) or []),
        dtype=dtype,
    )
    placement = {name: f"cuda:{d}" if isinstance(d, int) else d for name, d in device_map.items()}
    materialize(model, placement)
    return dispatch_model(model, device_map=device_map)


def materialize(model: Any, placement: dict[str, Any]) -> Any:
    """Give a meta-device model real (random, seeded) tensors where ``placement`` says.

    ``placement`` maps module names ("" for the whole model) to devices. Storage is
    allocated on each device, then transformers' own initialisation fills parameters
    and recomputes buffers (rotary frequencies), and tied weights are tied again.
    """
    for name, device in placement.items():
        target = model.get_submodule(name) if name else model
        target.to_empty(device=device)
    model.initialize_weights()
    model.tie_weights()
    return model


def pretrained_model(
    source: ModelSource, dtype: Any, cuda_indices: Sequence[int], section: PytorchConfig
) -> Any:
    """``from_pretrained`` onto the experiment's GPUs (or the CPU when there are none)."""
    import importlib.util

    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = dict(section.from_pretrained_kwargs)
    kwargs.update(dtype=dtype, low_cpu_mem_usage=section.low_cpu_mem_usage)
    if section.attn_implementation is not None:
        kwargs["attn_implementation"] = section.attn_implementation
    if section.quantization is not None:
        kwargs["quantization_config"] = quantization_config(section.quantization, dtype)
    has_accelerate = importlib.util.find_spec("accelerate") is not None
    move_to: str | None = None
    if len(cuda_indices) > 1 or (cuda_indices and section.device_map is not None):
        kwargs["device_map"] = section.device_map or "auto"
        kwargs["max_memory"] = _max_memory(cuda_indices)
    elif cuda_indices and (has_accelerate or section.quantization is not None):
        kwargs["device_map"] = {"": cuda_indices[0]}
    elif cuda_indices:
        move_to = f"cuda:{cuda_indices[0]}"
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(source.path or source.model_id, **kwargs)
    except OSError as exc:
        raise PreflightError(unreachable_message(source.model_id, "weights", exc)) from None
    return model.to(move_to) if move_to else model


def quantization_config(quantization: str, compute_dtype: Any) -> Any:
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=compute_dtype)
    return BitsAndBytesConfig(load_in_8bit=True)


def _max_memory(cuda_indices: Sequence[int]) -> dict[Any, int]:
    """Only the experiment's GPUs may hold parts of the model (never the CPU)."""
    import torch

    return {i: torch.cuda.get_device_properties(i).total_memory for i in cuda_indices}


def count_parameters(model: Any) -> int:
    """Parameters of the model, tied weights once, 4-bit packed weights unpacked."""
    counter = getattr(model, "num_parameters", None)
    if counter is not None:
        return int(counter())
    return sum(p.numel() for p in model.parameters())


def vocab_size(config: Any) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text.vocab_size)


def special_ids(generation_config: Any, config: Any, tokenizer: Any) -> tuple[tuple[int, ...], int]:
    """(eos ids, pad id), from the first of the model's generation config, the tokenizer
    and the model config that has them.

    Without any pad id the first eos id pads (padding is masked out; its value only
    fills the tensor), and 0 when there is no eos either.
    """

    def ids(value: Any) -> tuple[int, ...]:
        if value is None:
            return ()
        if isinstance(value, (list, tuple)):
            return tuple(int(x) for x in value)
        return (int(value),)

    def first(attr: str) -> tuple[int, ...]:
        for holder in (generation_config, tokenizer, config):
            found = ids(getattr(holder, attr, None)) if holder is not None else ()
            if found:
                return found
        return ()

    eos = first("eos_token_id")
    return eos, (first("pad_token_id") or eos or (0,))[0]
