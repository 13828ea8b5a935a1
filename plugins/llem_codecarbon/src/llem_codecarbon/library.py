"""codecarbon, imported and configured so that it makes no noise nobody asked for.

On import codecarbon installs a stderr handler at INFO on its logger (and its AMD probe
makes ``amdsmi`` print to stdout when ROCm is absent); a tracker logs INFO lines before it
applies its ``log_level``. Here the import runs with the importing thread's stdout
dropped and ``CODECARBON_LOG_LEVEL`` set (unless the user set it), and the logger gets
the configured level before any tracker exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from importlib import metadata
from types import ModuleType
from typing import Any

MIN_VERSION = (3, 0)


def import_codecarbon(log_level: str = "error") -> ModuleType:
    """The ``codecarbon`` module, imported quietly; its logger set to ``log_level``."""
    if "codecarbon" not in sys.modules:
        own_level = "CODECARBON_LOG_LEVEL" not in os.environ
        if own_level:
            os.environ["CODECARBON_LOG_LEVEL"] = log_level
        quiet = _QuietThread(sys.stdout)
        try:
            with contextlib.redirect_stdout(quiet):
                import codecarbon  # noqa: F401
        finally:
            quiet.thread = None
            if own_level:
                os.environ.pop("CODECARBON_LOG_LEVEL", None)
    logging.getLogger("codecarbon").setLevel(log_level.upper())
    return sys.modules["codecarbon"]


class _QuietThread:
    """Stands in for sys.stdout while codecarbon is imported: what the importing thread
    writes is dropped, what any other thread writes goes through. The meters are set up
    beside the backend's preflight, and a logging handler made there (vLLM's writes to
    sys.stdout) must not end up writing into the void."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.thread: int | None = threading.get_ident()

    def write(self, text: str) -> int:
        if threading.get_ident() == self.thread:
            return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


def codecarbon_version() -> str:
    try:
        return metadata.version("codecarbon")
    except metadata.PackageNotFoundError:
        return str(getattr(import_codecarbon(), "__version__", "unknown"))


def version_problem() -> str | None:
    """None if the installed codecarbon is new enough, else what is wrong."""
    version = codecarbon_version()
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        return f"codecarbon {version} is too old (llem needs >= 3.0)"
    return None
