"""The local executor: this machine, each experiment in its own worker process.

- ``parallel: none`` (default): one experiment at a time, run in the caller's thread
  with the devices it lists -- today's behaviour, fork server included; Ctrl+C reaches
  ``run_in_worker``, which kills its worker and re-raises.
- ``parallel: per_gpu`` or ``N``: experiments side by side on disjoint GPUs of this
  node. Each takes the first free GPUs it needs (``len(devices)``, or N), runs in its
  own worker on its own thread and sees only those GPUs (CUDA_VISIBLE_DEVICES=their
  UUIDs, ``devices`` renumbered 0..k-1). The gap before an experiment counts from the
  moment its GPUs were last freed. ``isolation: exclusive_node`` is one at a time.

One at a time with ``execution.reuse_engine`` (the default), consecutive experiments
that share an engine key run in one kept worker (llem.run.worker.EngineKeeper): the
engine loads once, the gaps are still waited, each experiment has its own warmup,
window and result. Side by side, every experiment has its own worker.

The result keeps the planned config and hash (what the user wrote); the GPUs it really
had are in its placement (the session adds it) and its environment (by UUID).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog

from llem.config.schema import ExecutionConfig
from llem.results.failure import identity
from llem.results.schema import ExperimentResult
from llem.run.executors import (
    Outcome,
    Pause,
    Started,
    Submission,
    environment_for,
    failed_attempt,
)

log = structlog.get_logger()

NODE_KEY = "node"  # the "GPU" a one-at-a-time executor waits gaps on


class LocalExecutor:
    name = "local"

    def __init__(self, ex: ExecutionConfig, run_dir: Path, events: Any, ticker: Any) -> None:
        from llem.run import cooldown

        self.run_dir, self.events, self.ticker = Path(run_dir), events, ticker
        self.exclusive_node = ex.isolation == "exclusive_node"
        self.slotted = ex.parallel != "none" and not self.exclusive_node
        self.node = socket.gethostname()
        self.uuids = _visible_gpus() if self.slotted or ex.cooldown == "temperature" else []
        self.free = list(self.uuids)
        self.idle_c = cooldown.gpu_temperatures(self.uuids) if ex.cooldown == "temperature" else {}
        self.freed_at: dict[str, float] = {}  # monotonic time each GPU was last freed
        self.outcomes: queue.Queue[Outcome | Started] = queue.Queue()
        self.running: dict[str, threading.Thread] = {}
        self.pids: dict[str, int] = {}
        self.lock = threading.Lock()
        self.cancelled = False
        self.keeper: Any = None
        if ex.reuse_engine and not self.slotted:
            from llem.run.worker import EngineKeeper

            self.keeper = EngineKeeper()

    def ready(self, sub: Submission) -> bool:
        if not self.slotted:
            return not self.running
        if sub.gpus == 0 or sub.gpus > len(self.uuids):  # CPU, or an impossible ask
            return not self.running
        with self.lock:
            return len(self.free) >= sub.gpus

    def submit(self, sub: Submission) -> None:
        if not self.slotted:
            self.running[sub.entry_id] = threading.current_thread()
            try:
                self._run(sub, self._configured_gpus(sub), [NODE_KEY])
            finally:
                self.running.pop(sub.entry_id, None)
            return
        if sub.gpus > len(self.uuids):
            self.outcomes.put(self._impossible(sub))
            return
        with self.lock:
            gpus, self.free = self.free[: sub.gpus], self.free[sub.gpus :]
        thread = threading.Thread(
            target=self._run, args=(sub, gpus, gpus), name=f"llem-slot-{sub.entry_id}", daemon=True
        )
        self.running[sub.entry_id] = thread
        thread.start()

    def poll(self, timeout_s: float) -> list[Outcome | Started]:
        out: list[Outcome | Started] = []
        try:
            out.append(self.outcomes.get(timeout=max(timeout_s, 0.0) if self.running else 0))
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self.outcomes.get_nowait())
            except queue.Empty:
                return out

    def cancel_all(self) -> None:
        """SIGKILL every running worker's process group (each leads its own)."""
        self.cancelled = True
        if self.keeper is not None:
            self.keeper.kill()
        for entry_id, pid in list(self.pids.items()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                log.info("executor.local.cancelled", id=entry_id, pgid=pid)
        for thread in list(self.running.values()):
            if thread is not threading.current_thread():
                thread.join(timeout=10)

    def close(self) -> None:
        for thread in list(self.running.values()):
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        if self.keeper is not None:
            self.keeper.close()

    # -- one attempt ------------------------------------------------------------------
    def _run(self, sub: Submission, gpus: Sequence[str], keys: Sequence[str]) -> None:
        from llem.run import cooldown
        from llem.run import worker as worker_module

        if self.keeper is not None:
            self.keeper.keep_only(sub.cfg, sub.cycle, self.run_dir)
        pause = self._remaining(sub.pause, keys)
        tick = self.ticker if not self.slotted else None
        paused = cooldown.wait(pause, [g for g in gpus if g != NODE_KEY], self.idle_c, tick)
        self.outcomes.put(Started(sub.entry_id, self.node, time.time()))
        cfg, extra = sub.cfg, {}
        if self.slotted:
            cfg = attrs.evolve(sub.cfg, devices=tuple(range(len(gpus))))
            extra = {"environ": environment_for(gpus), "started": self._started(sub.entry_id)}
        t0 = time.time()
        run = self.keeper.run if self.keeper is not None else worker_module.run_in_worker
        try:
            result = run(
                cfg,
                experiment_id=sub.entry_id,
                cycle=sub.cycle,
                run_dir=self.run_dir,
                timeout_s=sub.timeout_s,
                events=self.events,
                **extra,
            )
        except Exception as exc:  # a slot thread must always report back
            result = failed_attempt(sub, "exception", f"{type(exc).__name__}: {exc}")
        finally:
            self._release(sub.entry_id, gpus if self.slotted else [], keys)
        self.outcomes.put(
            Outcome(
                sub.entry_id,
                as_planned(result, sub.cfg),
                self.node,
                tuple(gpus),
                t0,
                time.time(),
                paused,
                pause.seconds,
            )
        )

    def _remaining(self, pause: Pause, keys: Sequence[str]) -> Pause:
        """The gap left: it counts from when these GPUs were last freed (never used in
        this session: no gap)."""
        with self.lock:
            freed = [self.freed_at[k] for k in keys if k in self.freed_at]
        if not freed:
            return attrs.evolve(pause, seconds=0.0)
        since = time.monotonic() - max(freed)
        return attrs.evolve(pause, seconds=max(0.0, pause.seconds - since))

    def _release(self, entry_id: str, gpus: Sequence[str], keys: Sequence[str]) -> None:
        with self.lock:
            now = time.monotonic()
            for k in keys:
                self.freed_at[k] = now
            self.free = [u for u in self.uuids if u in self.free or u in gpus]
            self.pids.pop(entry_id, None)
        if self.slotted:
            self.running.pop(entry_id, None)

    def _started(self, entry_id: str) -> Any:
        def started(pid: int) -> None:
            self.pids[entry_id] = pid
            if self.cancelled:  # Ctrl+C came while it was starting
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

        return started

    def _configured_gpus(self, sub: Submission) -> list[str]:
        """UUIDs of the devices a one-at-a-time experiment lists (for the cool-down)."""
        if not self.uuids:
            return [NODE_KEY]
        return [self.uuids[i] for i in sub.cfg.devices if i < len(self.uuids)] or [NODE_KEY]

    def _impossible(self, sub: Submission) -> Outcome:
        message = (
            f"the experiment needs {sub.gpus} GPU(s) and this node has "
            f"{len(self.uuids)}. Fix: lower execution.parallel or the experiment's devices, "
            f"or use executor: ray/slurm"
        )
        now = time.time()
        return Outcome(
            sub.entry_id, failed_attempt(sub, "preflight", message), self.node, (), now, now
        )


def as_planned(result: ExperimentResult, cfg: Any) -> ExperimentResult:
    """The result under the planned config and hash (devices as the user wrote them)."""
    config_hash, config = identity(cfg)
    if result.config_hash == config_hash:
        return result
    return attrs.evolve(result, config_hash=config_hash, config=config)


def _visible_gpus() -> list[str]:
    """UUIDs of the GPUs this process may use, in CUDA order ([] when none are seen)."""
    from llem.telemetry.devices import discover_gpus

    found = discover_gpus()
    shown = sorted((d for d in found.devices if d.cuda_index >= 0), key=lambda d: d.cuda_index)
    return [d.uuid for d in shown]


def node_gpus(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The GPUs a scheduler gave this process (CUDA_VISIBLE_DEVICES entries)."""
    value = (environ if environ is not None else os.environ).get("CUDA_VISIBLE_DEVICES", "")
    return tuple(e.strip() for e in value.split(",") if e.strip())
