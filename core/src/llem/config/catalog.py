"""What the top-level keys of a config may be, given the plugins installed here.

A key is a core key (a field of ExperimentConfig), ``sweep``/``experiments`` (in the
config file only), or the name of a registered component that declares a
``config_type`` (its section). A first-party name whose plugin is not installed gets
the command that installs it; a broken or disabled plugin gets its error. Built once
per load from the registry, so a 1,200-experiment sweep does not touch the registry
1,200 times.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import attrs

from llem.config.schema import ExperimentConfig
from llem.plugins import KNOWN_DISTRIBUTIONS, KNOWN_KINDS, Registry

CORE_KEYS = tuple(a.name for a in attrs.fields(ExperimentConfig) if a.name != "sections")
STUDY_KEYS = ("sweep", "experiments")
# The top-level ``extra`` was hashed but never read; engine arguments moved to the
# backend's own section, which forwards them to the engine.
MOVED_EXTRA = (
    "the top-level `extra` was removed: it moved to <backend>.extra, e.g. `vllm: {extra: "
    "{...}}` or `pytorch: {extra: {...}}`, which the backend passes to its engine unchanged "
    "(see docs/parameters.md)"
)
DEFAULT_BACKEND = "pytorch"


@attrs.frozen
class Catalog:
    """Section classes and component names, by name."""

    section_types: Mapping[str, type]  # name -> config_type (attrs class)
    section_kinds: Mapping[str, str]  # name -> backend | meter | sink
    backends: frozenset[str]
    meters: frozenset[str]
    sinks: frozenset[str]
    unusable: Mapping[str, str]  # name -> why it cannot be used + how to fix
    disabled: tuple[str, ...] = ()  # plugins LLEM_PLUGINS leaves out
    serving: frozenset[str] = frozenset()  # backends whose class sets serves = True

    @classmethod
    def from_registry(cls, registry: Registry) -> Catalog:
        types: dict[str, type] = {}
        kinds: dict[str, str] = {}
        for kind in ("backend", "meter", "sink"):
            for name, comp in registry.components(kind).items():
                kinds.setdefault(name, kind)
                if comp.config_type is not None:
                    types.setdefault(name, comp.config_type)
        unusable: dict[str, str] = {}
        for name, dist in KNOWN_DISTRIBUTIONS.items():
            if name not in kinds:
                unusable[name] = (
                    f"the {name} plugin is not installed; install it with: pip install {dist}"
                )
        for info in registry.plugins:
            reason = registry.unusable(info.name)
            if reason is not None and info.name not in kinds:
                unusable[info.name] = reason
        for (_kind, name), message in registry.conflicts.items():
            unusable[name] = message
        disabled = tuple(p.name for p in registry.plugins if p.status == "disabled")
        return cls(
            types,
            kinds,
            frozenset(registry.backends),
            frozenset(registry.meters),
            frozenset(registry.sinks),
            unusable,
            disabled,
            frozenset(
                n for n, c in registry.components("backend").items() if getattr(c, "serves", 0)
            ),
        )

    def is_backend(self, name: str) -> bool:
        """``name`` is a backend, installed or first-party (scopes ``name.*`` sweep keys)."""
        return (
            name in self.backends
            or KNOWN_KINDS.get(name) == "backend"
            or (self.section_kinds.get(name) == "backend")
        )

    def top_level_keys(self, study: bool) -> list[str]:
        keys = list(CORE_KEYS) + sorted(self.section_types)
        return keys + list(STUDY_KEYS) if study else keys

    def top_level_problem(self, key: str, study: bool) -> str | None:
        """None if ``key`` may be a top-level key, else what is wrong and how to fix."""
        if key in CORE_KEYS or key in self.section_types:
            return None
        if key in STUDY_KEYS:
            return None if study else f"{key!r} is only allowed at the top of a config file"
        if key == "extra":
            return MOVED_EXTRA
        if key in self.unusable:
            return f"section {key!r} cannot be used: {self.unusable[key]}"
        if key in self.section_kinds:
            kind = self.section_kinds[key]
            return f"the {kind} {key!r} takes no configuration section; remove {key!r}"
        return unknown_key_message(key, self.top_level_keys(study)) + self._disabled_hint()

    def _disabled_hint(self) -> str:
        if not self.disabled:
            return ""
        return f"; LLEM_PLUGINS leaves out {', '.join(self.disabled)}: one of them may provide it"

    def component_problem(self, kind: str, name: Any) -> str | None:
        """None if ``name`` is a usable component of ``kind``, else why not."""
        names = {"backend": self.backends, "meter": self.meters, "sink": self.sinks}[kind]
        if not isinstance(name, str):
            return f"expected the name of a {kind}, got {name!r}"
        if name in names:
            return None
        if name in self.unusable:
            return f"{kind} {name!r} cannot be used: {self.unusable[name]}"
        msg = f"no {kind} named {name!r} is installed"
        close = difflib.get_close_matches(name, sorted(names), n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        msg += f" (installed {kind}s: {', '.join(sorted(names)) or 'none'})"
        return msg + self._disabled_hint()


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """``unknown key 'x'; did you mean 'y'? (expected one of: ...)``."""
    msg = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        msg += f"; did you mean {close[0]!r}?"
    return msg + f" (expected one of: {', '.join(allowed)})"
