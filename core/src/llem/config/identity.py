"""What makes two experiments the same experiment, and how results name them.

``config_hash`` identifies a resolved experiment across runs, machines and resumes: it
covers everything that changes what is measured (model, backend and its section,
precision, workload, methodology, meters) and nothing that only changes how a study is
scheduled or where it writes (``execution``, ``output``) or how it is labelled (``name``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llem.config.schema import ExperimentConfig
from llem.converter import converter

NOT_IN_HASH = ("execution", "output", "name")


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The experiment as plain data (lists, dicts, scalars), in the shape of a config
    file: core keys, then each plugin section under its own top-level key."""
    data = plain(converter.unstructure(cfg))
    data.pop("sections", None)
    for name, section in cfg.sections.items():
        data[name] = plain(converter.unstructure(section)) if section is not None else None
    return data


def config_hash(cfg: ExperimentConfig) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``config_to_dict`` without
    ``execution``, ``output`` and ``name``."""
    return hash_dict(config_to_dict(cfg))


def engine_key(cfg: ExperimentConfig) -> str:
    """What a loaded engine is built from: model, backend and its section, weights,
    precision, devices, ``load.mode`` (vLLM starts a different engine to serve),
    ``generation.seed`` (seeded at load) and how the backend runs (``execution.runner``,
    ``images``). Experiments with equal keys can share one engine
    (``execution.reuse_engine``); the rest of a config -- load level, dataset, lengths,
    sampling, SLO, warmup, baseline, meters -- is per request or per window. A backend
    must read nothing else in ``load()``."""
    data = config_to_dict(cfg)
    ex = data["execution"]
    key = {
        "model": data["model"],
        "backend": data["backend"],
        "section": data.get(cfg.backend),
        "weights": data["weights"],
        "precision": data["precision"],
        "devices": data["devices"],
        "mode": data["load"]["mode"],
        "seed": data["generation"]["seed"],
        "runner": ex["runner"],
        "images": ex["images"],
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def hash_dict(data: Mapping[str, Any]) -> str:
    """``config_hash`` of an already unstructured experiment."""
    ident = {k: v for k, v in data.items() if k not in NOT_IN_HASH}
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys down to the leaves; lists are leaves."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def varying_params(experiments: Sequence[ExperimentConfig]) -> list[dict[str, Any]]:
    """Per experiment, the dotted keys whose values differ across ``experiments`` (only
    those; ``execution``, ``output`` and ``name`` are not parameters). A key absent from
    an experiment (another backend's section) is left out of that experiment's dict."""
    return varying_from_dicts(config_to_dict(e) for e in experiments)


def varying_from_dicts(dicts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``varying_params`` of unstructured experiments. A backend's section is compared
    only among the experiments of that backend (``vllm.max_num_seqs`` varies if two vLLM
    experiments differ in it; pytorch experiments have no say)."""
    data = list(dicts)
    backends = {d.get("backend") for d in data}
    flat = [flatten({k: v for k, v in d.items() if k not in NOT_IN_HASH}) for d in data]
    if len(flat) < 2:
        return [{} for _ in flat]
    keys: dict[str, None] = {}
    for row in flat:
        keys.update(dict.fromkeys(row))
    varying = []
    for key in keys:
        head = key.split(".", 1)[0]
        rows = (
            flat
            if head not in backends
            else [r for r, d in zip(flat, data, strict=True) if head in d]
        )
        seen = {_canonical(r[key]) if key in r else "<absent>" for r in rows}
        if len(seen) > 1:
            varying.append(key)
    return [{k: row[k] for k in varying if k in row} for row in flat]


def _canonical(value: Any) -> Any:
    """A hashable stand-in for ``value`` (1 and 1.0 and True kept apart)."""
    if type(value) in _LEAVES:
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True, default=str)


_LEAVES = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """``value`` as JSON/YAML-safe data: mappings to dicts with str keys, tuples to lists."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
