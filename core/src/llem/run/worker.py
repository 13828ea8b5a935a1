"""Each experiment runs in a fresh process (forked from the fork server, or spawned);
the parent never imports torch.

A fresh process per experiment means no CUDA context, allocator state, compiled kernel
or leaked memory carries over from one measurement to the next, and a crash (OOM killer,
segfault in an engine) cannot take the study with it. The parent:

- starts a non-daemon ``multiprocessing`` Process (engines such as vLLM start processes
  of their own, which a daemon process may not): spawned, or, for a backend that lists
  modules to preload, forked from a fork server that imported them once
  (``llem.run.forkserver``);
- waits for the result on a Pipe -- the pickled ExperimentResult, or, when that is over
  RESULT_FILE_LIMIT bytes, the path of a file the worker wrote in the experiment's
  directory -- while watching the process's sentinel and the timeout;
- on timeout or Ctrl+C kills the worker with SIGKILL (no cleanup code of a wedged engine
  can hold it), and returns a failed result (timeout) or re-raises KeyboardInterrupt.
  The worker leads its own process group, so the kill takes the engine processes it
  started along (an orphaned engine would hold the GPU and pollute the next
  measurement), and a terminal's Ctrl+C reaches only the parent, which decides;
- turns a worker that died without a result into a failed result with its exit code or
  signal. A result is never lost and never silently replaced.

Once its result is sent, the worker ends with ``os._exit``: the interpreter teardown of
a process that imported torch is slow, and the parent waits for the exit.
Before that it does what matters of a normal exit: it lets the last events reach the
queue's pipe, stops the processes it started through multiprocessing (SIGTERM, then
SIGKILL after a grace period; the parent's group kill then takes anything else), and
flushes the log handlers and stdio. ``atexit`` hooks do not run: a plugin releases what
it holds in ``close()``, which the lifecycle calls before the result is built.

With ``execution.reuse_engine`` a one-at-a-time local executor runs its experiments
through an ``EngineKeeper``: the worker stays up after sending a result, its engine
loaded, and waits on a second pipe for the next experiment. One whose engine key
(llem.config.identity) and cycle match is sent to it; any other first ends that worker
(a clean exit, which closes the engine) and starts a fresh one. Timeouts, deaths and
Ctrl+C are handled as for a single experiment; a worker that failed an experiment does
not keep its engine.

Events go on the optional ``events`` queue as ("phase", id, name) and
("power", id, {uuid: watts}).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NoReturn

import attrs
import structlog

from llem.results.failure import failed_result, traceback_tail
from llem.results.schema import ExperimentResult, Failure
from llem.run.forkserver import adopt_environment, forkserver_failed, worker_context
from llem.timestamps import utc_now

log = structlog.get_logger()

RESULT_FILE_LIMIT = 1_000_000  # bytes of pickled result sent through the pipe
RESULT_FILE_NAME = "result.pickle"
EXIT_GRACE_S = 30.0  # after the result arrived, how long the worker may take to exit
CHILD_GRACE_S = 5.0  # how long the worker's own children get to stop after SIGTERM
EVENTS_FLUSH_S = 2.0  # how long the worker waits for its last events to reach the pipe


def run_in_worker(
    cfg: Any,
    *,
    experiment_id: str,
    cycle: int,
    run_dir: Path,
    timeout_s: float | None,
    events: Any = None,
    environ: Mapping[str, str] | None = None,
    started: Callable[[int], None] | None = None,
) -> ExperimentResult:
    """Run one experiment in its own process and return its result (failed or not).

    ``environ``: variables to set in the worker over the parent's (an executor's GPU
    slot: CUDA_VISIBLE_DEVICES); ``started(pid)`` is called once the worker runs, so
    that an executor can kill its process group from another thread (cancel).
    """
    started_at = utc_now()
    fail = _Failer(cfg, experiment_id, cycle, started_at)
    env = {**os.environ, **(environ or {})}
    args = (cfg, experiment_id, cycle, str(run_dir), events, _debug_logging(), env)
    ctx = worker_context(cfg.backend)
    try:
        try:
            process, receiver = _start(ctx, experiment_id, args)
        except (EOFError, OSError) as exc:  # the fork server died: a preload failed in it
            if ctx.get_start_method() != "forkserver":
                raise
            forkserver_failed(exc)
            process, receiver = _start(multiprocessing.get_context("spawn"), experiment_id, args)
    except Exception as exc:  # e.g. a plugin section that cannot be pickled
        return fail(
            Failure(
                kind="exception",
                message=f"the worker could not be started: {type(exc).__name__}: {exc}",
                traceback_tail=traceback_tail(exc),
            )
        )
    log.info("worker.started", id=experiment_id, pid=process.pid)
    if started is not None:
        started(process.pid)
    try:
        return _await_result(process, receiver, timeout_s, fail)[0]
    except KeyboardInterrupt:
        _kill(process)
        raise
    finally:
        receiver.close()
        if process.is_alive():
            _kill(process)
        process.close()


def _start(
    ctx: Any, experiment_id: str, args: tuple, commands: Connection | None = None
) -> tuple[Any, Connection]:
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=worker_main,
        name=f"llem-worker-{experiment_id}",
        daemon=False,
        args=(sender, *args),
        kwargs={"commands": commands},
    )
    try:
        process.start()
    except BaseException:
        receiver.close()
        raise
    finally:
        sender.close()  # the child holds the only write end: EOF when it dies
    return process, receiver


@attrs.define
class _Kept:
    process: Any
    receiver: Connection
    commands: Connection  # the parent's end: ("run", cfg, id, cycle) or ("exit",)
    key: tuple[str, int, str]  # engine key, cycle, run directory


class EngineKeeper:
    """Runs experiments one at a time, keeping the worker (and its loaded engine) up
    between those that can share it; see the module docstring."""

    def __init__(self) -> None:
        self.kept: _Kept | None = None

    def run(
        self,
        cfg: Any,
        *,
        experiment_id: str,
        cycle: int,
        run_dir: Path,
        timeout_s: float | None,
        events: Any = None,
    ) -> ExperimentResult:
        key = _engine_key(cfg, cycle, run_dir)
        if self.kept is not None and self.kept.key != key:
            self.close()
        fail = _Failer(cfg, experiment_id, cycle, utc_now())
        kept = self.kept
        try:
            if kept is not None:
                kept.commands.send(("run", cfg, experiment_id, cycle))
            else:
                kept = self.kept = self._start(cfg, experiment_id, cycle, run_dir, events, key)
        except Exception as exc:  # a section that cannot be pickled, a worker gone
            self.kill()
            return fail(
                Failure(
                    kind="exception",
                    message=f"the worker could not be started: {type(exc).__name__}: {exc}",
                    traceback_tail=traceback_tail(exc),
                )
            )
        try:
            result, alive = _await_result(kept.process, kept.receiver, timeout_s, fail, keep=True)
        except BaseException:  # Ctrl+C
            self.kill()
            raise
        if not alive:
            self.kill()
        return result

    def _start(
        self, cfg: Any, experiment_id: str, cycle: int, run_dir: Path, events: Any, key: Any
    ) -> _Kept:
        ctx = worker_context(cfg.backend)
        env = dict(os.environ)
        args = (cfg, experiment_id, cycle, str(run_dir), events, _debug_logging(), env)
        theirs, ours = multiprocessing.Pipe(duplex=False)
        try:
            try:
                process, receiver = _start(ctx, experiment_id, args, commands=theirs)
            except (EOFError, OSError) as exc:  # the fork server died (see run_in_worker)
                if ctx.get_start_method() != "forkserver":
                    raise
                forkserver_failed(exc)
                spawn = multiprocessing.get_context("spawn")
                process, receiver = _start(spawn, experiment_id, args, commands=theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        log.info("worker.started", id=experiment_id, pid=process.pid, keeps_engine=True)
        return _Kept(process, receiver, ours, key)

    def keep_only(self, cfg: Any, cycle: int, run_dir: Path) -> None:
        """End the kept worker unless it can run this experiment next (called before
        the gap, so that the GPU cools without an engine that will not be used again)."""
        if self.kept is not None and self.kept.key != _engine_key(cfg, cycle, run_dir):
            self.close()

    def close(self) -> None:
        """End the kept worker: it closes its engine and exits (killed after
        EXIT_GRACE_S, with its process group)."""
        kept = self.kept
        if kept is None:
            return
        with contextlib.suppress(OSError, ValueError):
            kept.commands.send(("exit",))
        _reap(kept.process)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the kept worker and its group now (Ctrl+C, a failed hand-over)."""
        kept, self.kept = self.kept, None
        if kept is None:
            return
        kept.receiver.close()
        kept.commands.close()
        _kill(kept.process)
        kept.process.close()


class _Failer:
    def __init__(self, cfg: Any, experiment_id: str, cycle: int, started_at: str) -> None:
        self.cfg, self.experiment_id, self.cycle = cfg, experiment_id, cycle
        self.started_at = started_at

    def __call__(self, failure: Failure) -> ExperimentResult:
        log.error(
            "worker.failed", id=self.experiment_id, kind=failure.kind, message=failure.message
        )
        return failed_result(
            self.cfg,
            experiment_id=self.experiment_id,
            cycle=self.cycle,
            started_at=self.started_at,
            failure=failure,
        )


def _engine_key(cfg: Any, cycle: int, run_dir: Path) -> tuple[str, int, str]:
    """Which experiments one kept worker may run: same engine, cycle and study."""
    from llem.config.identity import engine_key

    return (engine_key(cfg), cycle, str(run_dir))


def _await_result(
    process: Any, receiver: Connection, timeout_s: float | None, fail: _Failer, keep: bool = False
) -> tuple[ExperimentResult, bool]:
    """The result, and whether the worker stays up for another experiment (``keep``
    and it said so; otherwise it has been reaped)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait([receiver, process.sentinel], timeout=left)
        if receiver in ready or (process.sentinel in ready and receiver.poll(0)):
            try:
                message = receiver.recv()
            except (EOFError, OSError):  # the worker closed its end without a result
                _reap(process)
                return fail(_death(process.exitcode)), False
            result = _unpack(message, fail)
            if keep and len(message) > 2 and message[2]:
                return result, True
            _reap(process)
            return result, False
        if process.sentinel in ready:
            process.join()
            _kill_group(process.pid)
            return fail(_death(process.exitcode)), False
        if deadline is not None and time.monotonic() >= deadline:
            _kill(process)
            return fail(
                Failure(
                    kind="timeout",
                    message=f"the experiment ran past execution.timeout_s={timeout_s:g} s and "
                    f"its worker was killed (SIGKILL). Fix: raise execution.timeout_s or "
                    f"shrink the workload",
                    signal=int(signal.SIGKILL),
                )
            ), False


def _unpack(message: Any, fail: _Failer) -> ExperimentResult:
    kind, payload = message[:2]
    if kind == "file":
        path = Path(payload)
        try:
            result = pickle.loads(path.read_bytes())
        except Exception as exc:
            return fail(
                Failure(
                    kind="crash",
                    message=f"the worker's result file {path} "
                    f"could not be read: {type(exc).__name__}: {exc}",
                )
            )
        path.unlink(missing_ok=True)
        return result
    if kind == "result":
        try:
            return pickle.loads(payload)
        except Exception as exc:
            return fail(
                Failure(
                    kind="crash",
                    message=f"the worker's result could not be "
                    f"unpickled in the parent: {type(exc).__name__}: {exc}",
                    traceback_tail=traceback_tail(exc),
                )
            )
    return fail(Failure(kind="crash", message=f"the worker sent an unknown message {kind!r}"))


def _death(exitcode: int | None) -> Failure:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = (
            " (the kernel's OOM killer sends SIGKILL: check host memory)"
            if sig == signal.SIGKILL
            else ""
        )
        return Failure(
            kind="crash",
            message=f"the worker was killed by {name}{hint} before sending a result",
            signal=sig,
        )
    return Failure(
        kind="crash",
        message=f"the worker exited with code {exitcode} before sending a result",
        exit_code=exitcode,
    )


def _reap(process: Any) -> None:
    process.join(EXIT_GRACE_S)
    if process.is_alive():
        log.warning("worker.slow_exit", pid=process.pid)
    _kill(process)  # also whatever the worker left running in its group


def _kill(process: Any) -> None:
    """SIGKILL the worker and every process of its group, then reap the worker."""
    _kill_group(process.pid)
    if process.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    process.join()


def _kill_group(pgid: int | None) -> None:
    if pgid is None or not hasattr(os, "killpg"):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        log.info("worker.group_killed", pgid=pgid)


# -- the child side ------------------------------------------------------------------------


def worker_main(
    sender: Connection,
    cfg: Any,
    experiment_id: str,
    cycle: int,
    run_dir: str,
    events: Any,
    debug: bool = False,
    environ: dict[str, str] | None = None,
    commands: Connection | None = None,
) -> None:
    """Entry point of the worker process: run the lifecycle, send the result; with
    ``commands`` (an EngineKeeper's worker), then wait there for the next experiment."""
    if environ is not None:
        adopt_environment(environ)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # our own process group: see the module docstring
    from llem.run.lifeline import hold

    hold()  # die, with the whole group, when the runner dies
    _configure_logging(Path(run_dir), debug)
    from llem.measure.lifecycle import SharedEngine

    shared = SharedEngine() if commands is not None else None
    while True:
        result = _experiment(cfg, experiment_id, cycle, Path(run_dir), events, shared)
        keeps = shared is not None and shared.backend is not None
        try:
            _send(sender, result, Path(run_dir) / "experiments" / experiment_id, keeps)
        except BaseException:  # the parent turns the exit code into a failed result
            traceback.print_exc()
            _exit(events, 1, shared)
        if not keeps:
            break
        assert commands is not None
        try:
            message = commands.recv()
        except (EOFError, OSError):  # the parent is gone or let go of this worker
            break
        if message[0] != "run":
            break
        cfg, experiment_id, cycle = message[1:]
    sender.close()
    log.info("worker.exiting", id=experiment_id, status=result.status)
    _exit(events, 0, shared)


def _experiment(
    cfg: Any, experiment_id: str, cycle: int, run_dir: Path, events: Any, shared: Any
) -> ExperimentResult:
    started_at = utc_now()
    try:
        from llem.measure.lifecycle import run_experiment

        return run_experiment(
            cfg,
            experiment_id=experiment_id,
            cycle=cycle,
            run_dir=run_dir,
            emit=_emitter(events, experiment_id),
            shared=shared,
        )
    except BaseException as exc:  # the lifecycle returns failures; this is a last resort
        if shared is not None:
            shared.close()
        return failed_result(
            cfg,
            experiment_id=experiment_id,
            cycle=cycle,
            started_at=started_at,
            failure=Failure(
                kind="exception",
                message=f"{type(exc).__name__}: {exc}",
                traceback_tail=traceback_tail(exc),
            ),
        )


def _exit(events: Any, code: int, shared: Any = None) -> NoReturn:
    """End the worker now, skipping the interpreter's slow teardown (see the module
    docstring) but nothing the parent or the run directory needs; a kept engine is
    closed first."""
    if shared is not None:
        shared.close()
    _flush_events(events, EVENTS_FLUSH_S)
    _stop_processes(multiprocessing.active_children(), CHILD_GRACE_S)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _flush_events(events: Any, timeout_s: float) -> None:
    """Let the queue's feeder thread write the last events (the "done" phase) to the
    pipe, but never wait longer than ``timeout_s``: a parent that stopped reading must
    not keep the worker alive."""
    if events is None:
        return
    events.close()
    flusher = threading.Thread(target=events.join_thread, daemon=True)
    flusher.start()
    flusher.join(timeout_s)


def _stop_processes(processes: list[Any], grace_s: float) -> None:
    """SIGTERM these processes, SIGKILL those still alive after ``grace_s``, reap all:
    what the worker started (e.g. Zeus's RAPL pollers) must not outlive it."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _send(sender: Connection, result: ExperimentResult, exp_dir: Path, keeps: bool) -> None:
    """The result (or its file's path), and whether this worker stays up for more."""
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        data = pickle.dumps(attrs_evolve_failed(result, exc))
    if len(data) > RESULT_FILE_LIMIT:
        from llem.results.io import write_bytes_atomic

        path = exp_dir / RESULT_FILE_NAME
        write_bytes_atomic(path, data)
        sender.send(("file", str(path), keeps))
    else:
        sender.send(("result", data, keeps))


def attrs_evolve_failed(result: ExperimentResult, exc: BaseException) -> ExperimentResult:
    """A result that cannot be pickled (a plugin put an odd object in it) becomes a
    failed result with the reason, keeping what can be kept."""
    import attrs

    return attrs.evolve(
        result,
        status="failed",
        energy=None,
        environment=None,
        error=Failure(
            kind="exception",
            message=f"the result could not be pickled: {type(exc).__name__}: {exc}",
            traceback_tail=traceback_tail(exc),
        ),
    )


def _emitter(events: Any, experiment_id: str) -> Any:
    if events is None:
        return None

    def emit(kind: str, payload: Any) -> None:
        with contextlib.suppress(Exception):  # a closed queue must not stop a measurement
            events.put_nowait((kind, experiment_id, payload))

    return emit


def _configure_logging(run_dir: Path, debug: bool) -> None:
    """Events of the worker go to the run's llem.log (JSON lines, llem.logs); on the
    console only with --debug, so that the parent's progress display stays readable
    (what matters to the user comes back in the result and its warnings). structlog left
    unconfigured would print every event to stdout."""
    import logging

    try:
        from llem import logs

        if debug:
            logs.configure(debug=True)
        if Path(run_dir).is_dir():
            logs.add_run_log(run_dir)
        else:
            logs.configure(debug=False)
    except Exception:  # no usable logs module: at least keep stdout quiet
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _debug_logging() -> bool:
    """Whether the parent logs at debug level (``llem --debug``)."""
    import logging

    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG and any(
        h.level <= logging.DEBUG
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    )
