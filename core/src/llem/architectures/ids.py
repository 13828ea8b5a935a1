"""What kind of thing a model id names, and the checks every backend makes on it.

A model id is ``builtin:<name>`` (an architecture from the catalogue: no weights, no
tokenizer files), a local directory (a Hugging Face checkpoint: ``config.json``,
weights, maybe tokenizer files), or anything else, a hub id that the engine fetches.
The kinds are decided without the network and without an engine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from llem.architectures.catalogue import BUILTIN_PREFIX, builtin_name, builtin_names
from llem.interfaces import Problem

ModelKind = Literal["builtin", "local", "hub"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def model_kind(model_id: str) -> ModelKind:
    """``builtin`` for a ``builtin:`` id, ``local`` for an existing directory, else ``hub``."""
    if builtin_name(model_id) is not None:
        return "builtin"
    return "local" if Path(model_id).expanduser().is_dir() else "hub"


def has_tokenizer(model_id: str) -> bool:
    """Whether the engine can load a tokenizer for ``model_id`` (a hub id: assumed so)."""
    kind = model_kind(model_id)
    if kind == "builtin":
        return False
    if kind == "hub":
        return True
    path = Path(model_id).expanduser()
    return any((path / name).is_file() for name in TOKENIZER_FILES)


def prompt_problems(model_id: str, dataset_source: str, engine: str) -> list[Problem]:
    """Text prompts (any dataset but ``synthetic``) need a tokenizer ``engine`` can load."""
    if dataset_source == "synthetic" or has_tokenizer(model_id):
        return []
    return [
        Problem(
            f"dataset.source {dataset_source!r} gives text prompts, but {model_id} has no "
            f"tokenizer {engine} can load",
            "use dataset.source: synthetic (token ids) or a model with a tokenizer",
        )
    ]


def slug(text: str, fill: str = "-") -> str:
    """``text`` made safe as a file name: runs of other characters become ``fill``."""
    return _UNSAFE.sub(fill, text).strip("._-")


def model_slug(model_id: str) -> str:
    """A short file-safe name of a model: ``builtin:llama-3.2-1b`` -> ``llama-3.2-1b``,
    ``meta-llama/Llama-3.1-8B`` -> ``Llama-3.1-8B``, ``~/ckpt/run7/`` -> ``run7``;
    ``model`` when nothing is left."""
    name = builtin_name(model_id)
    if name is None:
        name = Path(model_id.rstrip("/\\")).name or model_id
    return slug(name) or "model"


def model_problems(model_id: str, weights: str, random_means: str) -> list[Problem]:
    """Offline checks of ``model_id``: a built-in name that exists and ``weights: random``
    (``random_means`` says what the backend does with it), a local directory with a
    ``config.json``. Nothing is read beyond that, nothing is downloaded."""
    kind = model_kind(model_id)
    if kind == "builtin":
        if builtin_name(model_id) not in builtin_names():
            names = ", ".join(BUILTIN_PREFIX + n for n in builtin_names())
            return [Problem(f"unknown built-in model {model_id!r}", f"use one of: {names}")]
        if weights != "random":
            return [
                Problem(
                    f"{model_id} is an architecture without weights",
                    f"set `weights: random` ({random_means})",
                )
            ]
    elif kind == "local" and not (Path(model_id).expanduser() / "config.json").is_file():
        return [
            Problem(
                f"{Path(model_id).expanduser()} has no config.json",
                "point `model:` at a Hugging Face model directory saved by "
                "save_pretrained (config.json, weights, tokenizer)",
            )
        ]
    return []
