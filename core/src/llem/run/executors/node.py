"""What a Ray task or a Slurm job runs on its node: the same worker as ``local``.

The scheduler already gave the process its GPUs (Ray's ``num_gpus`` and Slurm's
``--gpus`` set CUDA_VISIBLE_DEVICES), so the experiment's devices are renumbered
0..k-1 over them. Without a shared filesystem (Ray) the worker writes into a private
temporary run directory and its experiment files (time series, request records, the
worker's log) travel back as bytes with the result, for the driver to write; with one
(Slurm) it writes into the study's run directory itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from llem.results.schema import ExperimentResult
from llem.run.executors import Submission

SKIPPED = ("result.pickle",)  # the worker's own hand-over file, consumed already


@attrs.frozen
class NodeReport:
    result: ExperimentResult
    node: str
    gpus: tuple[str, ...]
    started: float  # this node's wall clock, epoch seconds
    ended: float
    paused_s: float
    files: Mapping[str, bytes] = attrs.field(factory=dict)  # run-dir relative path -> bytes


def pause_here(sub: Submission) -> float:
    """Wait the submission's gap on this node (a fixed wait: no idle temperature of
    this node is known to a remote task); the seconds waited."""
    from llem.run import cooldown

    return cooldown.wait(attrs.evolve(sub.pause, mode="fixed"), [], {})


def run_here(sub: Submission, run_dir: str | None, paused_s: float = 0.0) -> NodeReport:
    """Run one attempt here; ``run_dir`` None: ship the experiment's files back."""
    from llem.run import worker
    from llem.run.executors.local import as_planned, node_gpus

    gpus = node_gpus()
    cfg = attrs.evolve(sub.cfg, devices=tuple(range(sub.gpus)))
    private = Path(tempfile.mkdtemp(prefix="llem-node-")) if run_dir is None else None
    where = private if private is not None else Path(run_dir)  # type: ignore[arg-type]
    try:
        t0 = time.time()
        result = _supervised(
            worker.run_in_worker,
            cfg,
            experiment_id=sub.entry_id,
            cycle=sub.cycle,
            run_dir=where,
            timeout_s=sub.timeout_s,
        )
        t1 = time.time()
        files = _collect(private, sub.entry_id) if private is not None else {}
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
    return NodeReport(as_planned(result, sub.cfg), node_name(), gpus, t0, t1, paused_s, files)


def node_name() -> str:
    """This node's name as its scheduler knows it (Slurm's, else the host name)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def _supervised(
    run: Callable[..., ExperimentResult], *args: Any, **kwargs: Any
) -> ExperimentResult:
    """``run(*args, **kwargs)`` on a thread while this one waits in short steps, so that
    a cancel delivered as an exception (``ray.cancel`` raises KeyboardInterrupt in the
    task between bytecodes; a blocking wait would never see it) kills the worker's
    process group at once instead of leaving it to run on."""
    box: dict[str, ExperimentResult] = {}
    pids: list[int] = []
    thread = threading.Thread(
        target=lambda: box.setdefault("result", run(*args, started=pids.append, **kwargs)),
        daemon=True,
    )
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except BaseException:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        thread.join(10)
        raise
    if "result" not in box:
        raise RuntimeError("the worker's runner thread ended without a result")
    return box["result"]


def _collect(run_dir: Path, entry_id: str) -> dict[str, bytes]:
    """The experiment's files, by path relative to the run directory; the worker's log
    lines (its run dir's llem.log) as experiments/<id>/worker.log."""
    files: dict[str, bytes] = {}
    exp_dir = run_dir / "experiments" / entry_id
    if exp_dir.is_dir():
        for path in sorted(exp_dir.rglob("*")):
            if path.is_file() and path.name not in SKIPPED:
                files[str(path.relative_to(run_dir))] = path.read_bytes()
    log = run_dir / "llem.log"
    if log.is_file():
        files[f"experiments/{entry_id}/worker.log"] = log.read_bytes()
    return files


def write_files(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write shipped files into the run directory (atomically; never outside it)."""
    from llem.results.io import write_bytes_atomic

    root = Path(run_dir).resolve()
    for rel, data in files.items():
        target = (root / rel).resolve()
        if root not in target.parents:
            raise ValueError(f"a shipped file {rel!r} would land outside {root}")
        write_bytes_atomic(target, data)
