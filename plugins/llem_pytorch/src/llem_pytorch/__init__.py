"""llem-pytorch: the ``pytorch`` backend (Hugging Face Transformers on PyTorch).

``llem --help`` imports this module to list commands, so the backend is imported inside
the hook; torch and transformers only inside the worker, when the backend preflights,
loads or generates.
"""

from __future__ import annotations

from llem.plugin import hookimpl


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    from llem_pytorch.backend import PytorchBackend

    register(PytorchBackend)
