"""llem-vllm: vLLM as a llem backend.

``llem --help`` imports this module to list commands, so the backend is imported inside
the hook; vLLM itself only inside the worker.
"""

from __future__ import annotations

from llem.plugin import hookimpl


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    from llem_vllm.backend import VllmBackend

    register(VllmBackend)
