"""llem-zeus: the ``zeus`` energy meter (GPU energy counters, CPU/DRAM through RAPL).

``llem --help`` imports this module to list commands, so the meter is imported inside the
hook; Zeus itself only when the meter probes or opens a window, inside the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.plugin import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.plugin import Meter


@hookimpl
def register_meters(register: Callable[[type[Meter]], None]) -> None:
    from llem_zeus.meter import ZeusMeter

    register(ZeusMeter)
