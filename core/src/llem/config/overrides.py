"""``--set key=value`` overrides.

The key is dotted (``generation.max_new_tokens``), the value is YAML
(``--set devices=[0,1]``, ``--set energy.meter=`` for None). Most keys override every
resolved experiment last (after the sweep and the profile), so ``--set precision=fp16``
on a precision sweep pins every experiment to fp16 (duplicates then collapse).
``sweep.<dotted key>`` replaces or adds a sweep axis, ``experiments`` replaces the
explicit list, and ``name`` renames the study.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from llem.config.document import Document, Path, parse_yaml
from llem.config.layers import merge_into, nest
from llem.errors import ConfigError

DOCUMENT_KEYS = ("sweep", "experiments", "name")


@attrs.frozen
class Override:
    """One ``--set``: its text, key path, value, and a position-less Document holding
    it (so errors about the value say ``--set key=value``)."""

    text: str
    path: Path
    value: Any
    doc: Document

    @property
    def head(self) -> str:
        return str(self.path[0])


def parse_override(text: str) -> Override:
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(
            f"--set {text!r}: expected key=value (like --set generation.max_new_tokens=64)"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    path = tuple(key.split("."))
    if not key or not all(path):
        raise ConfigError(
            f"--set {text!r}: {key!r} is not a dotted key (like generation.max_new_tokens)"
        )
    source = f"--set {text}"
    value = parse_yaml(raw, source).data if raw.strip() else None
    if path[0] == "sweep":
        if len(path) < 2:
            raise ConfigError(
                f"{source}: name the swept key, like --set sweep.precision=[fp16,bf16]"
            )
        data: dict[str, Any] = {"sweep": {".".join(path[1:]): value}}
    else:
        data = nest(path, value)
    return Override(text, path, value, Document(data, source))


def parse_overrides(texts: Sequence[str]) -> list[Override]:
    return [parse_override(t) for t in texts]


def experiment_layer(overrides: Sequence[Override]) -> dict[str, Any]:
    """The overrides that apply to every experiment, merged in order."""
    layer: dict[str, Any] = {}
    for o in overrides:
        if o.head not in DOCUMENT_KEYS:
            merge_into(layer, o.doc.data)
    return layer
