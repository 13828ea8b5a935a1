"""llem-core's own components, registered through the same hooks as any plugin's.

``llem --help`` loads this module to list commands, so the components (and what they
import: structlog, the results model) are imported inside the hooks, when a registry
collects them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.interfaces import Meter, Sink


@hookimpl
def register_meters(register: Callable[[type[Meter]], None]) -> None:
    from llem.telemetry.nvml_meter import NvmlMeter

    register(NvmlMeter)


@hookimpl
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    from llem.results.sinks import JsonSink, ParquetSink

    register(JsonSink)
    register(ParquetSink)
