"""How a study stops on a signal: SIGTERM is handled like Ctrl+C (SIGINT).

``timeout``, systemd and Slurm send SIGTERM (then SIGKILL after a grace period). Within
``sigterm_stops()`` a SIGTERM raises ``Terminated``, a KeyboardInterrupt, in the main
thread, exactly where Ctrl+C would: the worker of the running experiment is killed, its
manifest entry becomes ``interrupted``, manifest.json and study.json get what finished,
and the command exits with 128 + the signal's number, the shell's convention: 130 after
SIGINT, 143 after SIGTERM. A second SIGTERM while the study stops is ignored, so the
checkpoint is written whole (SIGKILL still ends the process at once; the workers then
die with it, see ``llem.run.lifeline``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop the study as on Ctrl+C."""

    signum = signal.SIGTERM


def exit_code(exc: BaseException) -> int:
    """128 + the signal that stopped the study: 130 for Ctrl+C, 143 for SIGTERM."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def cause(exc: BaseException) -> str:
    """How the stop is named in the manifest and messages."""
    return "SIGTERM" if isinstance(exc, Terminated) else "the user (Ctrl+C)"


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread (elsewhere,
    where Python cannot install handlers, the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the clean stop finish
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
