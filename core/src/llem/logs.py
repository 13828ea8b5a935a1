"""Logging: structlog configured once, on top of the standard library's handlers.

``configure(debug)`` is called once at the CLI entry. With ``--debug`` every event also
goes to stderr, readable (structlog's console renderer) on a terminal and as
``key=value`` lines otherwise. Without it llem's own events never reach the console --
they are internal key=value records, for llem.log; what a user must see comes as a
progress line, a reporter note or an error message -- and only other libraries'
warnings and errors are shown, one plain line each. ``add_run_log(run_dir)`` adds a handler that
writes every event of level info and above (debug with ``--debug``) as one JSON object
per line to ``run_dir/llem.log``. Library code only calls ``structlog.get_logger()``.

Routing through the standard library lets one event reach both outputs with its own
renderer each, and collects warnings of third-party libraries into the run log too.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import structlog

LOG_NAME = "llem.log"
_state: dict[str, Any] = {"configured": False, "debug": False, "console": None}


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _ensure_structlog() -> None:
    """Route structlog through the standard library (idempotent)."""
    if _state["configured"]:
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    logging.getLogger().setLevel(logging.DEBUG)
    _state["configured"] = True


def configure(debug: bool = False) -> None:
    """Console logging for the CLI (call once; a second call replaces the console
    handler)."""
    _ensure_structlog()
    _state["debug"] = debug
    root = logging.getLogger()
    if _state["console"] is not None:
        root.removeHandler(_state["console"])
    tty = sys.stderr.isatty()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if tty
        else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event"], sort_keys=True
        )
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:  # llem's own events stay in llem.log: see the module docstring
        handler.addFilter(_not_llem_event)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
        root.addHandler(handler)
        _state["console"] = handler
        return
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if not tty else []),
                renderer,
            ],
            foreign_pre_chain=_shared_processors(),
        )
    )
    root.addHandler(handler)
    _state["console"] = handler


class _RunLogHandler(logging.FileHandler):
    """A run log that cannot be written (full disk) says so once, in one line, instead
    of logging's traceback per event; the study itself reports the storage problem."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if not self.failed:
            self.failed = True
            error = sys.exc_info()[1]
            sys.stderr.write(f"warning: {self.baseFilename} could not be written ({error})\n")


def _not_llem_event(record: logging.LogRecord) -> bool:
    """Whether a record comes from another library (structlog's carry their event dict)."""
    return not isinstance(record.msg, dict)


def add_run_log(run_dir: Path) -> logging.Handler:
    """Append JSON lines of every event to ``run_dir/llem.log``; returns the handler
    (pass it to ``remove_run_log`` when the study ends)."""
    _ensure_structlog()
    handler = _RunLogHandler(Path(run_dir) / LOG_NAME, encoding="utf-8")
    handler.setLevel(logging.DEBUG if _state["debug"] else logging.INFO)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(default=str),
            ],
            foreign_pre_chain=_shared_processors(),
        )
    )
    logging.getLogger().addHandler(handler)
    return handler


def remove_run_log(handler: logging.Handler) -> None:
    """Stop writing to a run log added by ``add_run_log`` and close its file."""
    logging.getLogger().removeHandler(handler)
    handler.close()
