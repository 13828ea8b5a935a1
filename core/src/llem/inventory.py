"""What ``llem config`` reports: the first thing to run when something is off.

Every plugin (name, the kinds of component it registers, distribution, version,
status: ok / broken with its error / disabled by LLEM_PLUGINS / a component that reports
a missing requirement), the first-party plugins that are not installed (with the pip
command), the GPUs NVML sees (or why none), and the user config.
"""

from __future__ import annotations

from typing import Any

import attrs

from llem.plugins import BUILTIN_MODULES, KNOWN_DISTRIBUTIONS, PluginInfo, Registry


@attrs.frozen
class PluginRow:
    name: str
    kinds: str
    distribution: str
    version: str
    status: str
    detail: str = ""


def plugin_rows(registry: Registry) -> list[PluginRow]:
    rows = [_row(registry, info) for info in registry.all_plugins()]
    present = {info.name for info in registry.plugins}
    present |= set(registry.backends) | set(registry.meters) | set(registry.sinks)
    for name, dist in KNOWN_DISTRIBUTIONS.items():
        if name not in present:
            rows.append(PluginRow(name, "", dist, "", "not installed", f"pip install {dist}"))
    return rows


def display_name(info: PluginInfo) -> str:
    """Entry-point name, or ``<module> (built-in)`` for llem-core's own modules."""
    if info.distribution == "llem-core" and info.name in BUILTIN_MODULES:
        return f"{info.name.rsplit('.', 1)[-1]} (built-in)"
    return info.name


def _row(registry: Registry, info: PluginInfo) -> PluginRow:
    kinds = ", ".join(info.components) or "-"
    name = display_name(info)
    if info.status != "ok":
        return PluginRow(
            name, kinds, info.distribution, info.version, info.status, info.error or ""
        )
    missing = []
    for component in info.components:
        kind, component_name = component.split(":", 1)
        cls = registry.components(kind).get(component_name)
        try:
            need = cls.missing_requirement() if cls is not None else None
        except Exception as exc:  # a plugin's check must not break `llem config`
            need = f"missing_requirement() failed: {type(exc).__name__}: {exc}"
        if need:
            missing.append(f"{component}: {need}")
    if missing:
        return PluginRow(
            name, kinds, info.distribution, info.version, "missing requirement", "; ".join(missing)
        )
    return PluginRow(name, kinds, info.distribution, info.version, "ok")


def gpu_lines() -> list[str]:
    """One line per GPU NVML sees, or one line saying why none."""
    try:
        from llem.telemetry.devices import discover_gpus
    except ImportError as exc:
        return [f"no GPU seen: GPU discovery unavailable ({exc})"]
    try:
        found = discover_gpus()
    except Exception as exc:
        return [f"no GPU seen: {type(exc).__name__}: {exc}"]
    if not found.devices:
        fix = getattr(found, "fix", None)
        return [
            f"no GPU seen: {found.reason or 'NVML reports none'}" + (f" ({fix})" if fix else "")
        ]
    lines = [f"driver {found.driver_version}"] if found.driver_version else []
    for d in found.devices:
        cuda = f"cuda:{d.cuda_index}" if d.cuda_index >= 0 else "hidden from CUDA"
        lines.append(
            f"nvml:{d.nvml_index} {cuda} {d.name}, "
            f"{d.memory_total_bytes / 1024**3:.1f} GiB, {d.uuid}, {d.pci_bus_id}"
        )
    return lines


def render(registry: Registry, console: Any) -> None:
    from rich.table import Table

    from llem.config.user import read_user_config

    table = Table(title="plugins", title_justify="left")
    for col in ("name", "registers", "distribution", "version", "status", "detail"):
        table.add_column(col, overflow="fold")
    for row in plugin_rows(registry):
        status = row.status if row.status == "ok" else f"[bold yellow]{row.status}[/]"
        table.add_row(row.name, row.kinds, row.distribution, row.version, status, row.detail)
    console.print(table)
    for _component, message in sorted(registry.conflicts.items()):
        console.print(f"[bold red]conflict[/]: {message}")
    console.print("GPUs:")
    for line in gpu_lines():
        console.print(f"  {line}", markup=False)
    try:
        path, text = read_user_config()
    except Exception as exc:  # an unreadable user config is reported, not fatal here
        console.print(f"user config: {exc}", markup=False)
        return
    if path is None:
        console.print("user config: turned off (LLEM_USER_CONFIG is empty)")
    elif text is None:
        console.print(f"user config: {path}: none")
    else:
        console.print(f"user config: {path}:")
        console.print(text.rstrip() or "  (empty)", markup=False, highlight=False)
