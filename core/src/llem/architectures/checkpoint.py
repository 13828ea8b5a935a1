"""What an engine that loads Hugging Face directories gets for a model id.

An engine with a "dummy" load format (vLLM, TensorRT-LLM) builds a model from a
directory's ``config.json`` and fills it with random values: a built-in architecture
becomes such a directory, written to a temporary folder that the ModelSource owns and
``cleanup`` removes. A local directory is used as it is; a hub id is passed on for the
engine to fetch.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs

from llem.architectures.catalogue import load_architecture
from llem.architectures.ids import has_tokenizer, model_kind


@attrs.frozen
class ModelSource:
    """What the engine's ``model=`` gets, and what is known about it before it starts."""

    model: str
    architecture: dict[str, Any] | None
    has_tokenizer: bool
    temp_dir: str | None = None  # created by llem; removed by ``cleanup``

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def write_config_checkpoint(architecture: dict[str, Any], prefix: str) -> str:
    """A fresh temporary directory holding ``architecture`` as its ``config.json``."""
    temp_dir = tempfile.mkdtemp(prefix=prefix)
    (Path(temp_dir) / "config.json").write_text(json.dumps(architecture, indent=2))
    return temp_dir


def engine_source(model_id: str, prefix: str) -> ModelSource:
    """The ModelSource of ``model_id``; a built-in one is written under a temp dir named
    ``prefix...``. Raises ValueError for an unknown built-in name."""
    kind = model_kind(model_id)
    if kind == "builtin":
        arch = load_architecture(model_id)
        if arch is None:
            raise ValueError(f"unknown built-in model {model_id!r}")
        temp_dir = write_config_checkpoint(arch, prefix)
        return ModelSource(temp_dir, arch, has_tokenizer=False, temp_dir=temp_dir)
    if kind == "local":
        path = Path(model_id).expanduser()
        return ModelSource(
            str(path.resolve()), load_architecture(model_id), has_tokenizer(model_id)
        )
    return ModelSource(model_id, None, has_tokenizer=True)
