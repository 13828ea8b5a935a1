"""llem-vllm: vLLM as a llem backend.

``llem --help`` imports this module to list commands, so the backend is imported inside
the hook; vLLM itself only inside the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.plugin import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.plugin import Backend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from llem_vllm.backend import VllmBackend

    register(VllmBackend)
