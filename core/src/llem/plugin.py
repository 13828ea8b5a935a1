"""Everything a plugin may use from llem, in one module. Nothing else in llem is stable.

A plugin's hook module imports ``hookimpl`` from here; its components subclass the
bases here and exchange the data classes here with the core. Light on import: the
component bases and errors are plain classes; the config classes, the device helpers
and the architecture catalogue load on first use, so a hook module that imports this
costs ``llem --help`` nothing.

- hooks: ``hookimpl`` (the hooks and their contracts: ``llem.hookspecs``);
- component bases: ``Backend``, ``Meter``, ``Sink`` (``Backend[MyConfig]`` names the
  section class; ``requires``/``install_hint`` declare what the component drives);
- data exchanged with the core: ``Device``, ``Request``, ``RequestRecord``,
  ``TokenChunk``, ``EngineStep``, ``EnergyReading``, ``Availability``, ``Unavailable``,
  ``Problem``, ``ExperimentConfig``, ``GenerationConfig``;
- errors: ``LlemError`` and its ``ConfigError``, ``PluginError``, ``PreflightError``,
  ``ExperimentFailed``;
- helpers: ``offset_ns`` (clock offsets), ``VisibleDevices``/``visible_devices_for``
  (CUDA_VISIBLE_DEVICES for an engine), ``architectures`` (built-in architectures,
  parameter and KV-cache sizes, random-weight checkpoints).

llem-core ships ``py.typed``: type-check a plugin against these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llem.errors import (
    ConfigError,
    ExperimentFailed,
    LlemError,
    PluginError,
    PreflightError,
)
from llem.hookspecs import hookimpl
from llem.interfaces import (
    Availability,
    Backend,
    Device,
    EnergyReading,
    EngineStep,
    Meter,
    Problem,
    Request,
    RequestRecord,
    Sink,
    TokenChunk,
    Unavailable,
)
from llem.measure.clock import offset_ns

if TYPE_CHECKING:
    from llem import architectures
    from llem.config.schema import ExperimentConfig, GenerationConfig
    from llem.measure.quality import claim_process_tree, release_process_tree
    from llem.telemetry.devices import VisibleDevices, visible_devices_for

__all__ = [
    "Availability",
    "Backend",
    "ConfigError",
    "Device",
    "EnergyReading",
    "EngineStep",
    "ExperimentConfig",
    "ExperimentFailed",
    "GenerationConfig",
    "LlemError",
    "Meter",
    "PluginError",
    "PreflightError",
    "Problem",
    "Request",
    "RequestRecord",
    "Sink",
    "TokenChunk",
    "Unavailable",
    "VisibleDevices",
    "architectures",
    "claim_process_tree",
    "hookimpl",
    "offset_ns",
    "release_process_tree",
    "visible_devices_for",
]

_LAZY = {
    "claim_process_tree": "llem.measure.quality",
    "release_process_tree": "llem.measure.quality",
    "ExperimentConfig": "llem.config.schema",
    "GenerationConfig": "llem.config.schema",
    "VisibleDevices": "llem.telemetry.devices",
    "visible_devices_for": "llem.telemetry.devices",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "architectures":
        return importlib.import_module("llem.architectures")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llem.plugin' has no attribute {name!r}")
