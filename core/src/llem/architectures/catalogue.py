"""The built-in catalogue: architecture configs (HF ``config.json`` dicts) by name.

They live in the core, as plain JSON package data, so that config validation and the
dry-run memory estimate can read an architecture without torch or transformers. The
values are the published ``config.json`` of each model on the Hugging Face hub (minus
bookkeeping such as ``transformers_version``); ``tiny-llama`` is llem's own
few-million-parameter Llama whose tokenizer ships with the PyTorch backend.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

BUILTIN_PREFIX = "builtin:"

_PACKAGE = "llem.architectures"
_SUFFIX = ".json"


def builtin_names() -> list[str]:
    """Names of the built-in architectures (without the prefix), sorted."""
    root = resources.files(_PACKAGE)
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def builtin_name(model_id: str) -> str | None:
    """The catalogue name in a ``builtin:`` id, or None when ``model_id`` is not one."""
    if not model_id.startswith(BUILTIN_PREFIX):
        return None
    return model_id[len(BUILTIN_PREFIX) :]


def load_architecture(model_id: str) -> dict[str, Any] | None:
    """The architecture config of ``model_id`` as a fresh dict, or None if unknown here.

    A ``builtin:`` id gives its catalogue JSON (None for a name not in
    ``builtin_names()``); a local directory gives its ``config.json`` (a path to a
    ``.json`` file is read as is); anything else (a hub id) gives None, because
    answering would need the network.
    """
    name = builtin_name(model_id)
    if name is not None:
        if name not in builtin_names():
            return None
        text = resources.files(_PACKAGE).joinpath(name + _SUFFIX).read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(text)
        return data
    path = Path(model_id).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        local: dict[str, Any] = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return local
    if path.is_file() and path.suffix == _SUFFIX:
        single: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return single
    return None
