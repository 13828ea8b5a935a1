"""Built TensorRT engines, cached on disk and reused across experiments and runs.

Building an engine takes minutes; it depends only on the model, the build options and
the TensorRT-LLM version. The cache key hashes exactly those (model id and weights
fingerprint, weights mode, dtype, quantization, tensor/pipeline parallel sizes,
max_batch_size, max_num_tokens, max_seq_len, ``extra`` minus runtime-only
``kv_cache_config``, TensorRT-LLM version). Runtime options (KV-cache fraction, block
reuse) are not in it, so sweeping them reuses one engine.

Layout: ``<cache dir>/<model slug>-<key>/`` holds what ``LLM.save`` writes plus
``llem-engine.json`` (the key's inputs), written last: a directory without it is an
interrupted build and is rebuilt. A build is saved to a temporary sibling and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from llem.plugin import architectures

from llem_trtllm.config import TrtllmConfig

MANIFEST = "llem-engine.json"


def default_cache_dir() -> Path:
    """$LLEM_TRTLLM_ENGINE_CACHE, else $XDG_CACHE_HOME/llem/trtllm-engines, else
    ~/.cache/llem/trtllm-engines."""
    if os.environ.get("LLEM_TRTLLM_ENGINE_CACHE"):
        return Path(os.environ["LLEM_TRTLLM_ENGINE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llem" / "trtllm-engines"


def key_inputs(
    model_id: str, fingerprint: str, weights: str, dtype: str, section: TrtllmConfig, version: str
) -> dict[str, Any]:
    return {
        "model": model_id,
        "model_fingerprint": fingerprint,
        "weights": weights,
        "dtype": dtype,
        "quantization": section.quantization,
        "tensor_parallel_size": section.tensor_parallel_size,
        "pipeline_parallel_size": section.pipeline_parallel_size,
        "max_batch_size": section.max_batch_size,
        "max_num_tokens": section.max_num_tokens,
        "max_seq_len": section.max_seq_len,
        "extra": {k: v for k, v in sorted(section.extra.items()) if k != "kv_cache_config"},
        "tensorrt_llm": version,
    }


def engine_key(inputs: dict[str, Any]) -> str:
    blob = json.dumps(inputs, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def engine_dir(cache_dir: Path, model_id: str, key: str) -> Path:
    return cache_dir / f"{architectures.model_slug(model_id)}-{key}"


def is_complete(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def store(llm: Any, path: Path, inputs: dict[str, Any]) -> None:
    """``llm.save`` into a temporary sibling, add the manifest, rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    llm.save(str(tmp))
    (tmp / MANIFEST).write_text(json.dumps(inputs, indent=2, sort_keys=True, default=str))
    if path.exists():  # an interrupted build, or another process finished first
        if is_complete(path):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(path)
    os.replace(tmp, path)
