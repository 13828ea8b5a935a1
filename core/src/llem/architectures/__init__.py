"""Architectures: the built-in catalogue and what llem reads off an architecture config.

- the catalogue (``builtin:<name>`` ids, their published ``config.json``): ``catalogue``;
- model-id kinds (built-in, local directory, hub id), their offline checks and file-safe
  names: ``ids``;
- shape, parameter count and KV-cache bytes: ``counts``;
- the config-only checkpoint a dummy-loading engine builds random weights from:
  ``checkpoint``.

A backend builds a model from a built-in architecture (``weights: random``) without
downloading anything: that is how llem measures a 7B or 70B architecture on a machine
without its weights. Nothing here imports torch or an engine; plugins reach it as
``llem.plugin.architectures``.
"""

from __future__ import annotations

from llem.architectures.catalogue import (
    BUILTIN_PREFIX,
    builtin_name,
    builtin_names,
    load_architecture,
)
from llem.architectures.checkpoint import ModelSource, engine_source, write_config_checkpoint
from llem.architectures.counts import LLAMA_FAMILY, Shape, count_parameters, kv_cache_bytes, shape
from llem.architectures.ids import (
    TOKENIZER_FILES,
    ModelKind,
    has_tokenizer,
    model_kind,
    model_problems,
    model_slug,
    prompt_problems,
    slug,
)

__all__ = [
    "BUILTIN_PREFIX",
    "LLAMA_FAMILY",
    "TOKENIZER_FILES",
    "ModelKind",
    "ModelSource",
    "Shape",
    "builtin_name",
    "builtin_names",
    "count_parameters",
    "engine_source",
    "has_tokenizer",
    "kv_cache_bytes",
    "load_architecture",
    "model_kind",
    "model_problems",
    "model_slug",
    "prompt_problems",
    "shape",
    "slug",
    "write_config_checkpoint",
]
