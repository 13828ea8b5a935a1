"""Merging config layers while remembering which layer wrote each value.

An experiment is built from layers, lowest first: the user config, the file's base
keys, one ``experiments:`` entry, one point of the sweep grid, the profile, and the
``--set`` overrides. ``Origins`` keeps, for each layer, where its data sits in which
document, so an error about ``generation.max_new_tokens`` points at the line of the
layer that set it (the sweep value, the entry, or the base) and not merely at the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from llem.config.document import Document, Location, Path


@attrs.frozen
class Mount:
    """Layer data at ``target`` in the experiment is ``doc`` at ``doc_path``."""

    target: Path
    doc: Document
    doc_path: Path = ()
    key_path: Path | None = None  # where the key of ``target`` is (a sweep axis's key)


@attrs.frozen
class Origins:
    """The mounts of one experiment, lowest precedence first."""

    mounts: tuple[Mount, ...]

    def plus(self, *mounts: Mount) -> Origins:
        return Origins(self.mounts + mounts)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """Where the value (or key, if ``key``) at ``path`` was written: the highest
        layer that wrote it, else the nearest ancestor that one wrote."""
        for n in range(len(path), -1, -1):
            sub = path[:n]
            want_key = key and n == len(path)
            for mount in reversed(self.mounts):
                t = mount.target
                if sub[: len(t)] != t:
                    continue
                if not mount.doc.value_pos and not mount.doc.key_pos:
                    if len(sub) >= len(t) and _has(mount.doc.data, mount.doc_path, sub[len(t) :]):
                        return Location(mount.doc.source)
                    continue
                full = mount.doc_path + sub[len(t) :]
                if want_key and mount.key_path is not None and len(sub) == len(t):
                    full = mount.key_path
                pos = (
                    (mount.doc.key_pos.get(full) or mount.doc.value_pos.get(full))
                    if want_key
                    else (mount.doc.value_pos.get(full) or mount.doc.key_pos.get(full))
                )
                if pos is not None:
                    return Location(mount.doc.source, pos[0], pos[1])
        return Location(self.mounts[-1].doc.source) if self.mounts else Location("config")


def _has(data: Any, base: Path, rel: Path) -> bool:
    node = data
    for part in base + rel:
        if not _contains(node, part):
            return False
        node = node[part]
    return True


def _contains(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def copy_tree(value: Any) -> Any:
    """A copy of nested dicts and lists (scalars shared): cheaper than deepcopy."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def merge_into(target: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into ``target`` in place: mappings merge key by key, anything else
    replaces. ``over`` is copied, never aliased."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_into(target[key], value)
        else:
            target[key] = copy_tree(value)
    return target


def set_path(target: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``path`` in ``target`` (creating mappings on the way; merging a mapping
    value into a mapping already there)."""
    node: dict[Any, Any] = target  # list indices are never set: paths into mappings only
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    last = path[-1]
    if isinstance(value, Mapping) and isinstance(node.get(last), dict):
        merge_into(node[last], value)
    else:
        node[last] = copy_tree(value)


def get_path(data: Any, path: Path, default: Any = None) -> Any:
    node = data
    for part in path:
        if not _contains(node, part):
            return default
        node = node[part]
    return node


def nest(path: Path, value: Any) -> dict[str, Any]:
    """``("a", "b"), 1`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    set_path(out, path, value)
    return out
