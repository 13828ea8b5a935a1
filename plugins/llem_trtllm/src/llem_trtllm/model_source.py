"""Where TensorRT-LLM gets the model: a built-in architecture, a local directory, a hub id.

``weights: random`` is TensorRT-LLM's ``load_format="dummy"`` (both flows): the model
is built from ``config.json`` with random weights. A ``builtin:`` architecture becomes
a config-only checkpoint in a temporary directory (the core's architecture toolkit; no
weights, no tokenizer: prompts go in as token ids and ``end_id`` comes from the
architecture). What is TensorRT-LLM's own: the fingerprint of the weights for the
engine cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from llem.plugin import Problem, architectures

ModelSource = architectures.ModelSource
WEIGHT_GLOBS = ("*.safetensors", "*.bin")


def model_problems(model_id: str, weights: str) -> list[Problem]:
    """Cheap checks for preflight: nothing is written, nothing is downloaded."""
    return architectures.model_problems(model_id, weights, "TensorRT-LLM's dummy load format")


def resolve_model(model_id: str) -> ModelSource:
    return architectures.engine_source(model_id, "llem-trtllm-model-")


def fingerprint(source: ModelSource, weights: str) -> str:
    """What identifies these weights for the engine cache: the architecture, and for
    pretrained local weights their file names, sizes and modification times."""
    h = hashlib.sha256(json.dumps(source.architecture, sort_keys=True).encode())
    path = Path(source.model)
    if weights == "pretrained" and path.is_dir():
        for pattern in WEIGHT_GLOBS:
            for f in sorted(path.glob(pattern)):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def eos_token_id(source: ModelSource) -> int | None:
    """The architecture's end-of-sequence id (the first of a list), None if it has none."""
    eos = (source.architecture or {}).get("eos_token_id")
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    return eos if isinstance(eos, int) else None
