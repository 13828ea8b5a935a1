"""Where vLLM gets the model from: a built-in architecture, a local directory, or the hub.

``weights: random`` becomes vLLM's ``load_format="dummy"``: vLLM builds the model from
``config.json`` and fills it with random values, so no weights are downloaded. A built-in
id (``builtin:llama-3.2-1b``) has an architecture but no weights and no tokenizer: its
JSON from ``llem.architectures`` is written as ``config.json`` into a temporary directory and the
prompts go in as token ids (``skip_tokenizer_init``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
from llem.plugin import Problem

BUILTIN_PREFIX = "builtin:"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


@attrs.frozen
class ModelSource:
    """What ``LLM(model=...)`` gets, and what is known about it before the engine starts."""

    model: str
    architecture: dict[str, Any] | None
    has_tokenizer: bool
    temp_dir: str | None = None  # created by llem; removed by ``cleanup``

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def builtin_architecture(model_id: str) -> dict[str, Any] | None:
    from llem.plugin import architectures  # owned by the core; reads package data, no torch

    return architectures.load_architecture(model_id)


def model_problems(model_id: str, weights: str) -> list[Problem]:
    """Cheap checks for preflight: nothing is written, nothing is downloaded."""
    if model_id.startswith(BUILTIN_PREFIX):
        try:
            arch = builtin_architecture(model_id)
        except ImportError as exc:
            return [
                Problem(
                    f"cannot read built-in models: {exc}",
                    "upgrade llem-core (it ships llem.architectures)",
                )
            ]
        if arch is None:
            from llem.plugin import architectures

            return [
                Problem(
                    f"unknown built-in model {model_id!r}",
                    f"use one of: {', '.join(architectures.builtin_names())}",
                )
            ]
        if weights != "random":
            return [
                Problem(
                    f"{model_id} is an architecture without weights",
                    "set `weights: random` (vLLM's dummy load format)",
                )
            ]
        if not arch.get("architectures"):
            return [
                Problem(
                    f"{model_id} has no `architectures` entry, so vLLM cannot pick a model class",
                    "add it to the built-in JSON",
                )
            ]
        return []
    path = Path(model_id).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        return [
            Problem(
                f"{path} has no config.json",
                "point `model:` at a Hugging Face "
                "model directory (config.json, weights, tokenizer)",
            )
        ]
    return []


def resolve_model(model_id: str, weights: str) -> ModelSource:
    """The ModelSource for ``model_id``; writes a temp dir for built-in architectures."""
    if model_id.startswith(BUILTIN_PREFIX):
        arch = builtin_architecture(model_id)
        if arch is None:
            raise ValueError(f"unknown built-in model {model_id!r}")
        temp_dir = tempfile.mkdtemp(prefix="llem-vllm-model-")
        (Path(temp_dir) / "config.json").write_text(json.dumps(arch, indent=2))
        return ModelSource(temp_dir, arch, has_tokenizer=False, temp_dir=temp_dir)
    path = Path(model_id).expanduser()
    if path.is_dir():
        config = path / "config.json"
        arch = json.loads(config.read_text()) if config.is_file() else None
        has_tok = any((path / name).is_file() for name in TOKENIZER_FILES)
        return ModelSource(str(path.resolve()), arch, has_tokenizer=has_tok)
    return ModelSource(model_id, None, has_tokenizer=True)  # a hub id; vLLM fetches it


def count_parameters(arch: dict[str, Any] | None) -> int | None:
    """Parameters of a Llama-family decoder from its config (None if keys are missing).

    Embeddings (+ an untied LM head), per layer q/k/v/o projections with grouped KV
    heads, a gated MLP (3 matrices) and two RMSNorms, then the final norm. For the
    Llama-3.2-1B shape this gives 1.236 B, the figure measured on the GPU machine.
    """
    if not arch:
        return None
    try:
        h = int(arch["hidden_size"])
        layers = int(arch["num_hidden_layers"])
        inter = int(arch["intermediate_size"])
        heads = int(arch["num_attention_heads"])
        kv_heads = int(arch.get("num_key_value_heads", heads))
        vocab = int(arch["vocab_size"])
    except (KeyError, TypeError, ValueError):
        return None
    head_dim = int(arch.get("head_dim") or h // heads)
    attn = h * heads * head_dim + 2 * h * kv_heads * head_dim + heads * head_dim * h
    per_layer = attn + 3 * h * inter + 2 * h
    embeddings = vocab * h * (1 if arch.get("tie_word_embeddings", False) else 2)
    return embeddings + layers * per_layer + h
