"""Where a model's architecture and tokenizer come from, for each kind of model id.

- ``builtin:<name>``: the architecture from the core catalogue (``llem.architectures``); only
  ``builtin:tiny-llama`` has a tokenizer, shipped as package data of this plugin.
  Built-in models have no weights: they need ``weights: random``.
- a local directory: its ``config.json`` (and its tokenizer files if present).
- anything else: a Hugging Face hub id, fetched by transformers (clear error when the
  hub cannot be reached and the files are not in the local cache).

Without a tokenizer the backend still runs on token ids (synthetic datasets); text
prompts then fail early with a message that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
from llem.plugin import ConfigError, PreflightError, architectures

# builtin name -> package-data directory holding its tokenizer files
SHIPPED_TOKENIZERS = {"tiny-llama": ("data", "tiny-llama")}
# from_pretrained_kwargs that also apply to config and tokenizer downloads
HUB_KWARGS = ("revision", "trust_remote_code", "token", "cache_dir", "local_files_only")


@attrs.frozen
class ModelSource:
    """A resolved model id: its kind, a local path (if any) and where its tokenizer is."""

    model_id: str
    kind: architectures.ModelKind
    path: str | None  # local directory; None for builtin and hub
    tokenizer: str | None  # path or hub id to load a tokenizer from; None: there is none
    no_tokenizer_reason: str = ""


def resolve(model_id: str) -> ModelSource:
    """Classify ``model_id``; raises ConfigError for an unknown built-in name or a local
    directory without config.json."""
    for problem in architectures.model_problems(model_id, "random", ""):
        raise ConfigError(f"model {model_id!r}: {problem.message}; {problem.fix}")
    kind = architectures.model_kind(model_id)
    name = architectures.builtin_name(model_id)
    if name in SHIPPED_TOKENIZERS:
        return ModelSource(model_id, kind, None, str(shipped_tokenizer_dir(name)))
    if kind == "builtin":
        reason = (
            f"{model_id} ships no tokenizer (its weights are random), so it runs on token "
            f"ids only; use dataset.source: synthetic, or builtin:tiny-llama for text"
        )
        return ModelSource(model_id, kind, None, None, reason)
    if kind == "hub":
        return ModelSource(model_id, kind, None, model_id)
    path = str(Path(model_id).expanduser())
    if architectures.has_tokenizer(model_id):
        return ModelSource(model_id, kind, path, path)
    reason = (
        f"{path} holds no tokenizer files ({', '.join(architectures.TOKENIZER_FILES)}); "
        f"save one there or use dataset.source: synthetic (token ids)"
    )
    return ModelSource(model_id, kind, path, None, reason)


def shipped_tokenizer_dir(name: str) -> Path:
    parts = SHIPPED_TOKENIZERS[name]
    ref = resources.files("llem_pytorch")
    for part in parts:
        ref = ref.joinpath(part)
    return Path(str(ref))


def hub_kwargs(from_pretrained_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of from_pretrained_kwargs that config/tokenizer loading also needs."""
    return {k: from_pretrained_kwargs[k] for k in HUB_KWARGS if k in from_pretrained_kwargs}


def architecture(source: ModelSource, from_pretrained_kwargs: Mapping[str, Any]) -> Any:
    """The transformers config of ``source`` (no weights are read)."""
    from transformers import AutoConfig

    arch = architectures.load_architecture(source.model_id)
    if arch is not None:
        arch = dict(arch)
        model_type = arch.pop("model_type")
        return AutoConfig.for_model(model_type, **arch)
    try:
        return AutoConfig.from_pretrained(source.model_id, **hub_kwargs(from_pretrained_kwargs))
    except Exception as exc:
        raise PreflightError(unreachable_message(source.model_id, "config", exc)) from None


def unreachable_message(model_id: str, what: str, exc: BaseException) -> str:
    detail = " ".join(str(exc).split())[:300].rstrip(". ")
    builtins = ", ".join(architectures.BUILTIN_PREFIX + n for n in architectures.builtin_names())
    return (
        f"the {what} of model {model_id!r} could not be loaded: {type(exc).__name__}: "
        f"{detail}. Fix: make the Hugging Face hub reachable (and log in for gated models), "
        f"or point model at a local directory with config.json, or use a built-in "
        f"architecture ({builtins}) with weights: random"
    )
