"""llem-core's own components, registered through the same hooks as any plugin's.

``llem --help`` loads this module to list commands, so the components (and what they
import: structlog, the results model) are imported inside the hooks, when a registry
collects them.
"""

from __future__ import annotations

from llem.hookspecs import hookimpl


@hookimpl
def register_meters(register):  # type: ignore[no-untyped-def]
    from llem.telemetry.nvml_meter import NvmlMeter

    register(NvmlMeter)


@hookimpl
def register_sinks(register):  # type: ignore[no-untyped-def]
    from llem.results.sinks import JsonSink, ParquetSink

    register(JsonSink)
    register(ParquetSink)
