"""The container's side: host one backend and answer the worker's calls.

Run as ``python -m llem.containers.backend_host BACKEND`` (the image's command). Calls
arrive as ``(method, args)`` and are answered ``("ok", value)`` or
``("error", exception class name, message, traceback tail)``; ``serve`` switches to
streaming until ``serve_stop`` (see ``ServingSession``). Blocking calls run on the main
thread, as an engine expects; the watch channel's end (the worker is gone) ends the
process group at once, whatever the main thread is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs

from llem.containers.channel import LOG_NAME, MOUNT, connect
from llem.interfaces import Backend

CALLS = ("preflight", "load", "generate", "synchronize", "engine_steps", "close")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m llem.containers.backend_host BACKEND", file=sys.stderr)
        return 2
    _log_to(Path(MOUNT) / LOG_NAME)
    print(f"llem backend_host: backend {args[0]} in {sys.prefix}", flush=True)
    calls, watch = connect()
    threading.Thread(target=_watch, args=(watch,), daemon=True).start()
    backend = _instantiate(args[0], calls)
    if backend is None:
        return 1
    return _answer(backend, calls)


def _instantiate(name: str, calls: Connection) -> Backend | None:
    section = calls.recv()
    try:
        from llem.plugins import get_registry

        cls = get_registry().get("backend", name)
        missing = cls.missing_requirement()
        if missing:
            from llem.errors import PreflightError

            raise PreflightError(f"backend {name!r} in its image: {missing}")
        backend = cls(section)
    except Exception as exc:
        calls.send(_error(exc))
        return None
    calls.send(("ok", None))
    return backend


def _answer(backend: Backend, calls: Connection) -> int:
    while True:
        try:
            method, args = calls.recv()
        except EOFError:
            return 0
        if method == "exit":
            calls.send(("ok", None))
            return 0
        try:
            if method == "serve":
                ServingSession(backend, calls).run(*args)
                continue
            if method not in CALLS:
                raise ValueError(f"unknown call {method!r}")
            value = getattr(backend, method)(*args)
            if method == "load":
                value = {"vocab_size": backend.vocab_size, "num_parameters": backend.num_parameters}
            calls.send(("ok", value))
        except Exception as exc:
            calls.send(_error(exc))


class ServingSession:
    """Streams requests concurrently on one event loop until ``serve_stop``.

    The host sends ``("stream", (rid, request, gen))`` and ``("cancel", (rid,))``; this
    side answers ``("chunk", rid, TokenChunk)`` (stamped with perf_counter_ns when the
    engine handed it over, unless the backend stamped it), ``("end", rid)`` or
    ``("failed", rid, message)``, and ``("ok", None)`` after ``serve_stop``.
    """

    def __init__(self, backend: Backend, calls: Connection) -> None:
        self.backend = backend
        self.calls = calls
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def run(self, gen: Any) -> None:
        asyncio.run(self._session(gen))

    async def _session(self, gen: Any) -> None:
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()
        await self.backend.start_serving(gen)
        self.calls.send(("ok", None))
        loop.add_reader(self.calls.fileno(), self._on_message, stopped)
        try:
            await stopped
        finally:
            loop.remove_reader(self.calls.fileno())
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.backend.stop_serving()
        self.calls.send(("ok", None))

    def _on_message(self, stopped: asyncio.Future[None]) -> None:
        while self.calls.poll():
            try:
                method, args = self.calls.recv()
            except EOFError:
                os._exit(0)
            if method == "stream":
                rid = args[0]
                self.tasks[rid] = asyncio.ensure_future(self._stream(*args))
            elif method == "cancel":
                task = self.tasks.get(args[0])
                if task is not None:
                    task.cancel()
            elif method == "serve_stop" and not stopped.done():
                stopped.set_result(None)
            elif method in ("synchronize", "engine_steps"):  # the lifecycle's, mid-serving
                try:
                    self.calls.send(("ok", getattr(self.backend, method)(*args)))
                except Exception as exc:
                    self.calls.send(_error(exc))
            else:
                self.calls.send(_error(ValueError(f"{method!r} while serving")))

    async def _stream(self, rid: int, request: Any, gen: Any) -> None:
        try:
            async for chunk in self.backend.stream(request, gen):
                if chunk.t_ns is None:
                    chunk = attrs.evolve(chunk, t_ns=time.perf_counter_ns())
                self.calls.send(("chunk", rid, chunk))
            self.calls.send(("end", rid))
        except asyncio.CancelledError:
            self.calls.send(("end", rid))
        except Exception as exc:
            self.calls.send(("failed", rid, f"{type(exc).__name__}: {exc}"))
        finally:
            self.tasks.pop(rid, None)


def _log_to(path: Path) -> None:
    """Send this process's and its children's stdout and stderr to ``path``, which the
    host keeps with the experiment (the container itself is removed when it exits)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _error(exc: BaseException) -> tuple[str, str, str, str]:
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return ("error", type(exc).__name__, str(exc), tail)


def _watch(watch: Connection) -> None:
    """Block until the worker's end closes, then end every process of the container."""
    with contextlib.suppress(EOFError, OSError):
        watch.recv()
    try:
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(3)


if __name__ == "__main__":
    sys.exit(main())
