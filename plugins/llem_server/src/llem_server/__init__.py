"""llem-server: any engine behind an OpenAI-compatible server as a llem backend.

``llem --help`` imports this module to list commands, so the backend is imported inside
the hook; aiohttp only inside the worker.
"""

from __future__ import annotations

from llem.plugin import hookimpl


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    from llem_server.backend import ServerBackend

    register(ServerBackend)
