"""llem-echo: the smallest useful llem plugin. Copy this directory to start your own.

The module named by the entry point holds the hook implementations; llem calls them with
a ``register`` callback when it needs the components. ``llem --help`` imports every
plugin's module to list commands, so keep it light: import the components inside the
hooks.
"""

from __future__ import annotations

from llem.plugin import hookimpl


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    from llem_echo.backend import EchoBackend

    register(EchoBackend)
