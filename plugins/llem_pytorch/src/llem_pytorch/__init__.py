"""llem-pytorch: the ``pytorch`` backend (Hugging Face Transformers on PyTorch).

``llem --help`` imports this module to list commands, so the backend is imported inside
the hook; torch and transformers only inside the worker, when the backend preflights,
loads or generates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.plugin import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.plugin import Backend


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from llem_pytorch.backend import PytorchBackend

    register(PytorchBackend)
