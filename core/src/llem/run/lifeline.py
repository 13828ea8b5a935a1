"""A worker never outlives its runner.

A worker leads its own process group (so that a terminal's Ctrl+C reaches only the
runner, which decides), so the runner's death does not reach it by itself: killed with
SIGKILL, the runner would leave its worker measuring to the end -- up to the 1 h
timeout on a GPU -- and an immediate resume would run beside it. ``hold()``, called
first thing in the worker, ties the worker to its parent twice over (Linux):

- ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM when the parent dies,
  and the handler SIGKILLs the worker's whole process group (the engine processes it
  started included);
- a daemon thread waits on multiprocessing's parent sentinel (a pipe whose other end
  the runner holds, spawned or forked: EOF when the runner dies) and kills the group
  too, for the case the handler cannot run (an engine replaced it, or the main thread
  is stuck in C code); without a sentinel it polls ``getppid()`` every ``POLL_S``.

The parent of a forked worker is multiprocessing's fork server, itself a child of the
runner, which exits when the runner dies (it reads EOF on its alive pipe): the worker
then goes with it. Processes an engine moved out of the worker's group (``setsid``) are
out of reach, as they are of the runner's own group kill.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def hold() -> None:
    """Make this process and its process group die when its runner dies."""
    parent = os.getppid()
    if sys.platform == "linux":
        signal.signal(signal.SIGTERM, _end_group)
        _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the prctl
        _end_group()
    threading.Thread(target=_watch, args=(parent,), name="llem-lifeline", daemon=True).start()


def _set_parent_death_signal(sig: int) -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _watch(parent: int) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    runner = multiprocessing.parent_process()
    if runner is not None and runner.sentinel is not None:
        wait([runner.sentinel])  # readable (EOF) once the runner is gone
    else:
        while os.getppid() == parent:
            time.sleep(POLL_S)
    _end_group()


def _end_group(*_args: Any) -> None:
    """SIGKILL the process group this process leads (itself included), or itself."""
    with contextlib.suppress(OSError):
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
