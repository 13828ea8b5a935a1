"""llem-echo: the smallest useful llem plugin. Copy this directory to start your own.

The module named by the entry point holds the hook implementations; llem calls them with
a ``register`` callback when it needs the components. ``llem --help`` imports every
plugin's module to list commands, so keep it light: import the components inside the
hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.plugin import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.plugin import Backend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from llem_echo.backend import EchoBackend

    register(EchoBackend)
