"""The plugin manager: the only module that touches pluggy.

Loads built-ins and the entry-point group ``llem`` through the same hooks, honours
``LLEM_PLUGINS``, keeps a broken plugin from breaking llem, and refuses two components
registered under one name.

Loading a plugin imports only its hook module; its components are collected (their
modules imported) the first time a registry with components is asked for. So listing
commands (``llem --help``) stays cheap, while a run and ``llem config`` see every
component, conflict and failing register hook.

A plugin that fails to import, or whose hook raises, is listed as ``broken`` with its
error; only a run that needs one of its components fails (``Registry.get`` raises the
error then). Two components registered under one name are a conflict: neither is used,
the later plugin is marked broken with a message naming both distributions, and
``Registry.get`` raises that message for the name.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from llem import hookspecs
from llem.errors import PluginError
from llem.interfaces import Backend, Meter, Sink

ENTRY_POINT_GROUP = "llem"
BUILTIN_MODULES = ("llem.builtins",)
# First-party names -> distribution, for install hints when they are absent.
KNOWN_DISTRIBUTIONS = {
    "pytorch": "llem-pytorch",
    "vllm": "llem-vllm",
    "trtllm": "llem-trtllm",
    "server": "llem-server",
    "zeus": "llem-zeus",
    "codecarbon": "llem-codecarbon",
}
# What the first-party names provide, so that a section or a sweep key of one that is
# not installed can be understood (``vllm.*`` is scoped to vLLM experiments) before
# saying what to install.
KNOWN_KINDS = {
    "pytorch": "backend",
    "vllm": "backend",
    "trtllm": "backend",
    "server": "backend",
    "zeus": "meter",
    "codecarbon": "meter",
}
KINDS = {"backend": Backend, "meter": Meter, "sink": Sink}


@attrs.frozen
class PluginInfo:
    """One plugin: an entry point of group ``llem`` or a built-in module of llem-core.

    ``components`` are ``"kind:name"`` strings of what it registered."""

    name: str
    distribution: str
    version: str
    status: str  # ok | broken | disabled
    error: str | None = None
    components: tuple[str, ...] = ()


@attrs.define
class Registry:
    backends: dict[str, type[Backend]] = attrs.Factory(dict)
    meters: dict[str, type[Meter]] = attrs.Factory(dict)
    sinks: dict[str, type[Sink]] = attrs.Factory(dict)
    plugins: list[PluginInfo] = attrs.Factory(list)  # entry-point plugins
    builtins: list[PluginInfo] = attrs.Factory(list)  # llem-core's own modules
    conflicts: dict[tuple[str, str], str] = attrs.Factory(dict)  # (kind, name) -> message
    manager: pluggy.PluginManager | None = None
    owners: dict[str, str] = attrs.Factory(dict)  # pluggy plugin name -> distribution
    collected: bool = False

    def collect(self) -> None:
        """Ask every loaded plugin for its components (importing them), once."""
        if self.collected or self.manager is None:
            return
        self.collected = True
        _collect(self.manager, self)

    def components(self, kind: str) -> dict[str, type[Any]]:
        """The classes of one kind by name (``kind`` is only known at run time)."""
        tables: dict[str, dict[str, type[Any]]] = {
            "backend": self.backends,
            "meter": self.meters,
            "sink": self.sinks,
        }
        return tables[kind]

    def all_plugins(self) -> list[PluginInfo]:
        """Built-ins first, then entry-point plugins."""
        return [*self.builtins, *self.plugins]

    def get(self, kind: str, name: str) -> type[Any]:
        """The registered class, or a PluginError that says what to install."""
        table = self.components(kind)
        if name in table:
            return table[name]
        if (kind, name) in self.conflicts:
            raise PluginError(self.conflicts[(kind, name)])
        unusable = self.unusable(name)
        if unusable is not None:
            raise PluginError(f"{kind} {name!r}: {unusable}")
        raise PluginError(missing_component_message(kind, name, sorted(table)))

    def unusable(self, name: str) -> str | None:
        """Why the plugin ``name`` is installed but not usable (broken or disabled)."""
        info = next((p for p in self.plugins if p.name == name and p.status != "ok"), None)
        if info is None:
            return None
        if info.status == "disabled":
            return (
                f"plugin {info.name} ({info.distribution}) is disabled: LLEM_PLUGINS="
                f"{os.environ.get('LLEM_PLUGINS', '')!r} does not name it"
            )
        return f"plugin {info.name} ({info.distribution}) is broken: {info.error}"

    def estimate_co2(self, energy_j: float, carbon: Any) -> tuple[float, dict] | None:
        """CO2 for ``energy_j`` from the first plugin that can estimate it, else None."""
        if self.manager is None:
            return None
        return self.manager.hook.estimate_co2(energy_j=energy_j, carbon=carbon)

    def call_register_commands(self, cli: Any) -> None:
        """Let every plugin add its click commands; one that raises is marked broken."""
        if self.manager is None:
            return
        for impl in self.manager.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                _mark_broken(
                    self, impl.plugin_name, f"register_commands failed: {type(exc).__name__}: {exc}"
                )


def missing_component_message(kind: str, name: str, available: list[str]) -> str:
    msg = f"no {kind} named {name!r} is installed"
    if name in KNOWN_DISTRIBUTIONS:
        msg += f"; install it with: pip install {KNOWN_DISTRIBUTIONS[name]}"
    else:
        close = difflib.get_close_matches(name, available, n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
    return msg + f" (installed {kind}s: {', '.join(available) or 'none'})"


_cached: Registry | None = None


def get_registry(refresh: bool = False, *, components: bool = True) -> Registry:
    """The process-wide registry, loaded once. ``components=False`` leaves the components
    uncollected (enough for plugin hooks such as ``register_commands``); a later call
    with the default collects them."""
    global _cached
    if _cached is None or refresh:
        _cached = load_registry(os.environ.get("LLEM_PLUGINS"), components=False)
    if components:
        _cached.collect()
    return _cached


def load_registry(only: str | None, *, components: bool = True) -> Registry:
    """Load built-ins, then entry points (restricted to ``only``, a comma list, if set);
    collect their components unless ``components`` is false."""
    allowed = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
    pm = pluggy.PluginManager("llem")
    pm.add_hookspecs(hookspecs)
    registry = Registry(manager=pm)
    core_version = _core_version()

    for module_name in BUILTIN_MODULES:
        try:
            pm.register(importlib.import_module(module_name), name=module_name)
        except Exception as exc:  # a built-in must not break `llem config` either
            registry.builtins.append(
                PluginInfo(
                    module_name, "llem-core", core_version, "broken", f"{type(exc).__name__}: {exc}"
                )
            )
            continue
        registry.owners[module_name] = "llem-core"
        registry.builtins.append(PluginInfo(module_name, "llem-core", core_version, "ok"))

    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else "unknown"
        version = ep.dist.version if ep.dist else "unknown"
        if allowed is not None and ep.name not in allowed:
            if not any(p.name == ep.name for p in registry.plugins):
                registry.plugins.append(
                    PluginInfo(ep.name, dist, version, "disabled", "not in LLEM_PLUGINS")
                )
            continue
        if pm.has_plugin(ep.name) or any(p.name == ep.name for p in registry.plugins):
            continue  # the same entry point seen twice (editable + site)
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not break llem
            registry.plugins.append(
                PluginInfo(ep.name, dist, version, "broken", f"{type(exc).__name__}: {exc}")
            )
            continue
        registry.owners[ep.name] = dist
        registry.plugins.append(PluginInfo(ep.name, dist, version, "ok"))

    _refuse_unknown_hooks(pm, registry)
    if components:
        registry.collect()
    return registry


def _refuse_unknown_hooks(pm: pluggy.PluginManager, registry: Registry) -> None:
    """A hook function named after no hookspec (``register_backend``) would register
    nothing and look fine: pluggy's ``check_pending`` finds each such plugin, which is
    unregistered and marked broken with the hook it probably meant."""
    known = sorted(n for n in vars(hookspecs) if hasattr(getattr(hookspecs, n), "llem_spec"))
    for _ in range(len(pm.get_plugins()) + 1):  # each round unregisters one plugin
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            callers = pm.get_hookcallers(exc.plugin) or []
            unknown = sorted(h.name for h in callers if not h.has_spec())
            pm.unregister(exc.plugin)
            _mark_broken(registry, name, unknown_hooks_message(unknown, known))
            continue
        return


def unknown_hooks_message(unknown: list[str], known: list[str]) -> str:
    """``unknown hook 'register_backend' (did you mean 'register_backends'?)``."""
    parts = []
    for hook in unknown:
        close = difflib.get_close_matches(hook, known, n=1, cutoff=0.6)
        parts.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (
        f"unknown hook {', '.join(parts)}: llem has no such hook, so the plugin would "
        f"register nothing; rename it (the hooks are: {', '.join(known)})"
    )


def _core_version() -> str:
    try:
        return metadata.version("llem-core")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _collect(pm: pluggy.PluginManager, registry: Registry) -> None:
    hooks = {
        "backend": pm.hook.register_backends,
        "meter": pm.hook.register_meters,
        "sink": pm.hook.register_sinks,
    }
    where: dict[tuple[str, str], str] = {}
    for kind, hook in hooks.items():
        for impl in hook.get_hookimpls():  # registration order: built-ins first
            dist = registry.owners.get(impl.plugin_name, impl.plugin_name)
            register = _registrar(kind, registry, where, dist, impl.plugin_name)
            try:
                impl.function(register=register)
            except Exception as exc:
                _mark_broken(registry, impl.plugin_name, f"{type(exc).__name__}: {exc}")
    for kind, name in registry.conflicts:
        table = registry.components(kind)
        table.pop(name, None)


def _registrar(
    kind: str, registry: Registry, where: dict[tuple[str, str], str], dist: str, plugin_name: str
) -> Callable[[type], None]:
    base = KINDS[kind]
    table = registry.components(kind)

    def register(cls: type) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"{dist} registered {cls!r} as a {kind}, but it does not "
                f"subclass llem.{base.__name__}"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{dist}: {kind} class {cls.__qualname__} has no `name`")
        if name in table or (kind, name) in registry.conflicts:
            first = where[(kind, name)]
            message = (
                f"two {kind}s are registered as {name!r}: one by {first}, one by "
                f"{dist}; uninstall one of them (pip uninstall {dist}) or restrict "
                f"loading with LLEM_PLUGINS"
            )
            registry.conflicts[(kind, name)] = message
            raise PluginError(message)
        cls.distribution = dist  # type: ignore[attr-defined]
        table[name] = cls
        where[(kind, name)] = dist
        _add_component(registry, plugin_name, f"{kind}:{name}")

    return register


def _add_component(registry: Registry, plugin_name: str, component: str) -> None:
    for table in (registry.builtins, registry.plugins):
        for i, info in enumerate(table):
            if info.name == plugin_name:
                table[i] = attrs.evolve(info, components=(*info.components, component))


def _mark_broken(registry: Registry, plugin_name: str, error: str) -> None:
    for table in (registry.builtins, registry.plugins):
        for i, info in enumerate(table):
            if info.name == plugin_name:
                table[i] = attrs.evolve(info, status="broken", error=error)
