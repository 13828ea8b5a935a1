"""Where TensorRT-LLM gets the model: a built-in architecture, a local directory, a hub id.

``weights: random`` is TensorRT-LLM's ``load_format="dummy"`` (both flows): the model
is built from ``config.json`` with random weights. A ``builtin:`` architecture's JSON
is written as ``config.json`` into a temporary directory (no weights, no tokenizer:
prompts go in as token ids and ``end_id`` comes from the architecture).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
from llem.plugin import Problem

BUILTIN_PREFIX = "builtin:"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
WEIGHT_GLOBS = ("*.safetensors", "*.bin")


@attrs.frozen
class ModelSource:
    model: str
    architecture: dict[str, Any] | None
    has_tokenizer: bool
    temp_dir: str | None = None

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def fingerprint(self, weights: str) -> str:
        """What identifies these weights for the engine cache: the architecture, and for
        pretrained local weights their file names, sizes and modification times."""
        h = hashlib.sha256(json.dumps(self.architecture, sort_keys=True).encode())
        path = Path(self.model)
        if weights == "pretrained" and path.is_dir():
            for pattern in WEIGHT_GLOBS:
                for f in sorted(path.glob(pattern)):
                    st = f.stat()
                    h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()

    @property
    def eos_token_id(self) -> int | None:
        eos = (self.architecture or {}).get("eos_token_id")
        return eos[0] if isinstance(eos, list) and eos else eos


def model_problems(model_id: str, weights: str) -> list[Problem]:
    if model_id.startswith(BUILTIN_PREFIX):
        from llem.plugin import architectures

        if architectures.load_architecture(model_id) is None:
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
                    "set `weights: random` (TensorRT-LLM's dummy load format)",
                )
            ]
        return []
    path = Path(model_id).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        return [
            Problem(
                f"{path} has no config.json", "point `model:` at a Hugging Face model directory"
            )
        ]
    return []


def has_tokenizer(model_id: str) -> bool:
    if model_id.startswith(BUILTIN_PREFIX):
        return False
    path = Path(model_id).expanduser()
    return not path.is_dir() or any((path / f).is_file() for f in TOKENIZER_FILES)


def resolve_model(model_id: str) -> ModelSource:
    if model_id.startswith(BUILTIN_PREFIX):
        from llem.plugin import architectures

        arch = architectures.load_architecture(model_id)
        if arch is None:
            raise ValueError(f"unknown built-in model {model_id!r}")
        temp_dir = tempfile.mkdtemp(prefix="llem-trtllm-model-")
        (Path(temp_dir) / "config.json").write_text(json.dumps(arch, indent=2))
        return ModelSource(temp_dir, arch, False, temp_dir)
    path = Path(model_id).expanduser()
    if path.is_dir():
        config = path / "config.json"
        arch = json.loads(config.read_text()) if config.is_file() else None
        return ModelSource(str(path.resolve()), arch, has_tokenizer(model_id))
    return ModelSource(model_id, None, True)
