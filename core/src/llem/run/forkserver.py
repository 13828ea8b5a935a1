"""Workers forked from a server that has done the slow imports once.

A spawned worker imports everything afresh: with the pytorch backend, ``import torch``
alone is 2-3 s of every experiment. multiprocessing's fork server is a clean process,
started on first use and alive until this process ends, that imports llem's worker code
and the modules the backend names in ``Backend.preload``; each worker is then forked
from it. A worker is still a new process per experiment, with no CUDA context,
allocator state, model or thread from an earlier one: the server never runs an
experiment, and only its imported modules are shared, copy-on-write.

The server keeps the environment it started with, and the modules it imported read
theirs then (libgomp reads OMP_NUM_THREADS when torch loads it). So a worker is forked
only while the parent's environment and the backend's preload list are those the server
started with; otherwise it is spawned as before. The worker also takes the parent's
environment over on arrival (``adopt_environment``), for a server started by other code.
Linux only: on macOS, a process forked after system frameworks were loaded may crash.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Mapping
from multiprocessing.context import BaseContext

import structlog

log = structlog.get_logger()

# Imported in the server for every backend that preloads anything: the worker's own code.
WORKER_MODULES = ("llem.run.worker", "llem.measure.lifecycle")

# (preload, environment) the fork server was started with; None until llem first uses it.
_server: tuple[tuple[str, ...], dict[str, str]] | None = None
_broken: str | None = None  # why the fork server is not used any more


def worker_context(backend: str) -> BaseContext:
    """The fork server's context for a backend that preloads modules, else spawn's."""
    global _server
    preload = backend_preload(backend)
    if not preload or _broken or sys.platform != "linux":  # macOS: fork and Objective-C
        return multiprocessing.get_context("spawn")
    wanted = ((*WORKER_MODULES, *preload), dict(os.environ))
    ctx = multiprocessing.get_context("forkserver")
    if _server is None:
        ctx.set_forkserver_preload(list(wanted[0]))
        _server = wanted
    if wanted != _server:
        log.info(
            "worker.spawned_not_forked",
            backend=backend,
            reason="the environment or the preload list changed since the fork server started",
        )
        return multiprocessing.get_context("spawn")
    return ctx


def forkserver_failed(exc: BaseException) -> None:
    """The fork server could not start a worker: spawn every worker from now on."""
    global _broken
    _broken = f"{type(exc).__name__}: {exc}"
    log.warning(
        "worker.forkserver_failed",
        error=_broken,
        why="a preloaded module failed to import in the fork server (its traceback "
        "is above); workers are spawned from now on, which costs their imports "
        "in every experiment",
        fix="fix or uninstall the module the traceback names",
    )


def backend_preload(backend: str) -> tuple[str, ...]:
    """What the backend asks to preload; nothing for a backend the registry lacks (the
    worker then reports that)."""
    from llem.errors import PluginError
    from llem.plugins import get_registry

    try:
        return tuple(get_registry().get("backend", backend).preload)
    except PluginError:
        return ()


def adopt_environment(environ: Mapping[str, str]) -> None:
    """Make this process's environment ``environ`` (the parent's at the worker's start)."""
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
