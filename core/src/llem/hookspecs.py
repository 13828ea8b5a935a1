"""The hooks a plugin implements. A plugin author reads this file and interfaces.py.

Every hook is optional. Registration hooks receive a ``register`` callback so a plugin
says *what* it adds and the core decides *when* (once, the first time a registry with
components is asked for: a run, ``llem config``). A hook module whose function names
no hook here (``register_backend`` for ``register_backends``) is marked broken, with
the name it probably meant.

Implement them in the module the ``llem`` entry point names, importing the components
inside the hook so that loading the module stays cheap (``llem --help`` loads it)::

    from llem.plugin import hookimpl

    @hookimpl
    def register_backends(register):
        from my_plugin.backend import MyBackend
        register(MyBackend)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from llem.config.schema import CarbonConfig
    from llem.interfaces import Backend, Meter, Sink

hookspec = pluggy.HookspecMarker("llem")
hookimpl = pluggy.HookimplMarker("llem")


@hookspec
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Call ``register(BackendClass)`` for each inference backend the plugin provides.

    The class subclasses ``llem.plugin.Backend`` and has a unique ``name`` (the value of
    ``backend:`` in a config); it is only instantiated in the worker process. ``register``
    raises PluginError for a class that is not a Backend or has no ``name``.
    """


@hookspec
def register_meters(register: Callable[[type[Meter]], None]) -> None:
    """Call ``register(MeterClass)`` for each energy meter (a ``llem.plugin.Meter``
    subclass; its ``name`` is what ``energy.meter`` and ``energy.cross_check`` select)."""


@hookspec
def register_sinks(register: Callable[[type[Sink]], None]) -> None:
    """Call ``register(SinkClass)`` for each result sink (a ``llem.plugin.Sink``
    subclass; its ``name`` is what ``output.sinks`` lists)."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``llem`` group, e.g. ``@cli.command() def mycmd(): ...``.

    Called every time the CLI starts (``llem --help`` too): import nothing heavy here."""


@hookspec(firstresult=True)
def estimate_co2(energy_j: float, carbon: CarbonConfig) -> tuple[float, dict[str, Any]] | None:
    """Return ``(co2_kg, details)`` for ``energy_j`` joules under ``carbon`` (the
    config's CarbonConfig), or None to let another plugin answer. ``details`` is a dict
    that says how (carbon intensity in g/kWh, its source, region); it is an estimate.

    Called once per result whose primary meter reported no CO2 of its own; the first
    plugin that returns a value wins."""
