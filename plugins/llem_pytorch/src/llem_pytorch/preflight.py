"""Checks before any GPU work: packages, model source, devices, feature combinations, memory.

Each finding is a ``Problem`` with the fix. A machine without CUDA is not a problem:
the backend then runs on the CPU (the lifecycle records that no GPU was measured), but
options that only exist on GPUs (bitsandbytes, flash-attention, compiled decoding) are.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from llem.plugin import LlemError, Problem, architectures

from llem_pytorch import model_source
from llem_pytorch.config import PytorchConfig

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "8bit": 1.0, "4bit": 0.5}
OVERHEAD = 1.1  # CUDA context, allocator slack, activations of one step


INSTALL_HINT = "pip install llem-pytorch (or: pip install torch transformers)"


def missing_packages() -> str | None:
    """None when torch and transformers are importable, else what is missing + the fix."""
    missing = [p for p in ("torch", "transformers") if importlib.util.find_spec(p) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed; {INSTALL_HINT}"


def problems(cfg: Any, section: PytorchConfig) -> list[Problem]:
    missing = missing_packages()
    if missing:
        return [Problem(f"the pytorch backend needs {missing.split(';')[0]}", INSTALL_HINT)]
    found: list[Problem] = []
    source = _source_problems(cfg, found)
    cuda_indices = _device_problems(cfg, found)
    _feature_problems(cfg, section, bool(cuda_indices), found)
    found.extend(continuous_batching_problems(cfg, section))
    if source is not None and cuda_indices and not found:
        found.extend(_memory_problems(cfg, section, source, cuda_indices))
    return found


def continuous_batching_problems(cfg: Any, section: PytorchConfig) -> list[Problem]:
    """transformers' continuous batching drops the min-length logits processor, so a
    minimum length with end tokens on would silently not hold there."""
    uses_cb = section.continuous_batching or cfg.load.mode == "serving"
    gen = cfg.generation
    if not uses_cb or gen.ignore_eos or gen.fixed_min_new_tokens == 0:
        return []
    return [
        Problem(
            f"continuous batching cannot hold generation.min_new_tokens "
            f"({gen.fixed_min_new_tokens}) with end tokens on: transformers drops that "
            f"logits processor there",
            "set generation.ignore_eos: true (fixed length) or generation.min_new_tokens: 0",
        )
    ]


def _source_problems(cfg: Any, found: list[Problem]) -> model_source.ModelSource | None:
    try:
        source = model_source.resolve(cfg.model)
    except LlemError as exc:
        found.append(Problem(str(exc)))
        return None
    if source.kind == "builtin":
        built = "the architecture is built with random weights"
        found.extend(architectures.model_problems(cfg.model, cfg.weights, built))
    if source.kind == "local" and cfg.weights == "pretrained":
        files = [p.name for p in _iterdir(source.path)]
        if not any(name.endswith(WEIGHT_SUFFIXES) for name in files):
            found.append(
                Problem(
                    f"model directory {source.path} holds no weight files "
                    f"({', '.join('*' + s for s in WEIGHT_SUFFIXES)})",
                    "save the weights there, or set weights: random to measure the architecture",
                )
            )
    if cfg.dataset.source != "synthetic" and source.tokenizer is None:
        found.append(
            Problem(
                f"dataset.source {cfg.dataset.source} gives text prompts, which need a tokenizer: "
                f"{source.no_tokenizer_reason}",
                "use dataset.source: synthetic, or a model with a tokenizer",
            )
        )
    return source


def _iterdir(path: str | None) -> list[Any]:
    from pathlib import Path

    return list(Path(path).iterdir()) if path else []


def _device_problems(cfg: Any, found: list[Problem]) -> tuple[int, ...]:
    """The CUDA indices the experiment will use: none without CUDA (then: the CPU)."""
    import torch

    if not torch.cuda.is_available():
        return ()
    count = torch.cuda.device_count()
    bad = [i for i in cfg.devices if i < 0 or i >= count]
    if bad:
        found.append(
            Problem(
                f"devices {list(bad)} do not exist: this process sees {count} CUDA device(s) "
                f"(0..{count - 1})",
                "set devices to existing CUDA indices (they count after CUDA_VISIBLE_DEVICES)",
            )
        )
    return tuple(cfg.devices)


def _feature_problems(cfg: Any, section: PytorchConfig, on_gpu: bool, found: list[Problem]) -> None:
    where = "a CUDA GPU, and this machine has none (torch.cuda.is_available() is False)"
    if section.quantization is not None:
        if importlib.util.find_spec("bitsandbytes") is None:
            found.append(
                Problem(
                    f"pytorch.quantization {section.quantization} needs bitsandbytes, which is "
                    "not installed",
                    "pip install bitsandbytes",
                )
            )
        if not on_gpu:
            found.append(
                Problem(
                    f"pytorch.quantization {section.quantization} needs {where}",
                    "run on a GPU machine, or remove pytorch.quantization",
                )
            )
        if cfg.weights == "random":
            found.append(
                Problem(
                    "pytorch.quantization needs weights: pretrained (bitsandbytes quantises "
                    "weights while loading them; random weights are never loaded)",
                    "set weights: pretrained, or remove pytorch.quantization",
                )
            )
    if section.attn_implementation == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            found.append(
                Problem(
                    "pytorch.attn_implementation flash_attention_2 needs the flash-attn package",
                    "pip install flash-attn --no-build-isolation",
                )
            )
        if not on_gpu:
            found.append(
                Problem(f"flash_attention_2 needs {where}", "use attn_implementation: sdpa")
            )
        if cfg.precision == "fp32":
            found.append(
                Problem(
                    "flash_attention_2 supports fp16 and bf16 only, not fp32",
                    "set precision: bf16 (or fp16), or attn_implementation: sdpa",
                )
            )
    spread = section.device_map is not None or len(cfg.devices) > 1
    if spread and on_gpu and importlib.util.find_spec("accelerate") is None:
        found.append(
            Problem(
                "placing a model over several GPUs (pytorch.device_map, or more than one entry "
                "in devices) needs accelerate",
                "pip install accelerate",
            )
        )
    if section.torch_compile:
        if not on_gpu:
            found.append(
                Problem(
                    f"pytorch.torch_compile: transformers compiles the decode step only on {where}",
                    "set pytorch.torch_compile: false on this machine",
                )
            )
        if cfg.warmup.runs < 1:
            found.append(
                Problem(
                    "pytorch.torch_compile with warmup.runs: 0 would put compilation inside the "
                    "measurement window",
                    "set warmup.runs to 1 or more",
                )
            )


def _memory_problems(
    cfg: Any,
    section: PytorchConfig,
    source: model_source.ModelSource,
    cuda_indices: tuple[int, ...],
) -> list[Problem]:
    """Weights + KV cache of one batch against the devices' memory (local configs only)."""
    import torch
    from llem.plugin import architectures

    arch = architectures.load_architecture(cfg.model)
    if arch is None:  # hub model: knowing its size would need the network
        return []
    need = estimate_bytes(cfg, section, source)
    have = sum(torch.cuda.get_device_properties(i).total_memory for i in cuda_indices)
    if need <= have:
        return []
    return [
        Problem(
            f"{cfg.model} at {section.quantization or cfg.precision} needs about "
            f"{need / 2**30:.1f} GiB (weights + KV cache of a batch of {section.batch_size}), "
            f"more than the {have / 2**30:.1f} GiB of devices {list(cuda_indices)}",
            "use a smaller pytorch.batch_size or generation length, 8/4-bit quantization, "
            "fp16/bf16 instead of fp32, or more devices",
        )
    ]


def estimate_bytes(cfg: Any, section: PytorchConfig, source: model_source.ModelSource) -> float:
    """A lower bound on GPU memory: parameters (counted on the meta device) + KV cache."""
    from llem_pytorch.build import count_parameters, random_model, torch_dtype

    config = model_source.architecture(source, section.from_pretrained_kwargs)
    model = random_model(config, torch_dtype(cfg.precision), "meta", None)
    params = count_parameters(model)
    per_param = BYTES_PER_PARAM[section.quantization or cfg.precision]
    dims = architectures.shape(config.get_text_config().to_dict())
    prompt = cfg.dataset.input_len_max or cfg.dataset.input_len
    tokens = section.batch_size * (prompt + cfg.generation.max_new_tokens)
    per_value = BYTES_PER_PARAM[cfg.precision]
    kv_bytes = (
        0.0 if isinstance(dims, str) else architectures.kv_cache_bytes(dims, tokens, per_value)
    )
    return OVERHEAD * (params * per_param + kv_bytes)
