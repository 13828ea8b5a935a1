"""Which runner and which image an experiment's backend gets (``execution.runner``)."""

from __future__ import annotations

from collections.abc import Mapping

from llem.config.schema import ExecutionConfig


def runner_for(execution: ExecutionConfig, backend: str) -> str:
    """``local`` or ``docker``: the runner named for ``backend``, else ``local``."""
    runner = execution.runner
    if isinstance(runner, Mapping):
        return runner.get(backend, "local")
    return runner


def image_for(execution: ExecutionConfig, backend: str, default: str) -> str:
    """The image named in ``execution.images`` for ``backend``, else ``default`` (the tag
    ``llem docker build`` gives it)."""
    return execution.images.get(backend, default)
