"""Executors: WHERE an experiment runs (this machine's GPUs, a Ray cluster, Slurm).

One small interface, whatever the executor: ``submit`` a planned run with the GPUs it
needs, ``poll`` for what finished (an ``Outcome``: the ExperimentResult -- failed with
a reason when the task, job or node was lost -- plus where and when it ran), and
``cancel_all`` on Ctrl+C. Placement and GPU assignment live here; measurement never
does: every executor runs the same worker code (``llem.run.worker.run_in_worker``) on
the machine it picked. The study session (llem.run.session) decides what to submit,
retries, cycles and gaps, and is the only writer of the manifest; executors never
touch it. ray and submitit are imported only by their executor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from llem.config.schema import ExecutionConfig, ExperimentConfig
from llem.results.schema import ExperimentResult


@attrs.frozen
class Pause:
    """What to wait before the experiment starts on its GPUs: a gap (config/cycle,
    or before a retry), fixed or ended early by the GPUs' temperature."""

    seconds: float = 0.0
    reason: str = ""
    mode: str = "fixed"  # fixed | temperature
    tolerance_c: float = 2.0


@attrs.frozen
class Submission:
    """One attempt of one planned run."""

    entry_id: str
    cfg: ExperimentConfig
    cycle: int
    attempt: int
    gpus: int  # how many GPUs it needs (0: none)
    timeout_s: float | None
    pause: Pause = Pause()


@attrs.frozen
class Outcome:
    """A finished attempt. ``started``/``ended`` are the node's wall clock (epoch s)."""

    entry_id: str
    result: ExperimentResult
    node: str
    gpus: tuple[str, ...] = ()
    started: float = 0.0
    ended: float = 0.0
    paused_s: float = 0.0  # how long it waited before starting
    pause_planned_s: float = 0.0  # how long the configured gap was


@attrs.frozen
class Started:
    """An attempt began on ``node`` (known to remote executors only once it runs)."""

    entry_id: str
    node: str
    at: float


class Executor(Protocol):
    name: str
    exclusive_node: bool

    def ready(self, sub: Submission) -> bool:
        """Whether ``sub`` may be submitted now (a free slot; remote: below the cap)."""

    def submit(self, sub: Submission) -> None:
        """Start ``sub``; it comes back from ``poll`` as an Outcome (never raises for a
        failed experiment)."""

    def poll(self, timeout_s: float) -> Sequence[Outcome | Started]:
        """What happened since the last call, waiting up to ``timeout_s`` for anything."""

    def cancel_all(self) -> None:
        """Stop every submitted attempt now (Ctrl+C): kill, ray.cancel, scancel."""

    def close(self) -> None:
        """Release what the executor holds (threads, the Ray connection)."""


def gpus_needed(cfg: ExperimentConfig, parallel: str | int) -> int:
    """GPUs an experiment reserves: ``parallel: N`` gives N, otherwise its devices."""
    return parallel if isinstance(parallel, int) else len(cfg.devices)


def make_executor(ex: ExecutionConfig, run_dir: Any, events: Any, ticker: Any) -> Executor:
    """The executor ``execution.executor`` names, ready to take submissions."""
    if ex.executor == "ray":
        from llem.run.executors.ray import RayExecutor

        return RayExecutor(ex, run_dir)
    if ex.executor == "slurm":
        from llem.run.executors.slurm import SlurmExecutor

        return SlurmExecutor(ex, run_dir)
    from llem.run.executors.local import LocalExecutor

    return LocalExecutor(ex, run_dir, events, ticker)


def concurrency(
    ex: ExecutionConfig, gpus_per_experiment: Sequence[int], gpus_seen: int
) -> tuple[int, str]:
    """How many experiments run at once, and why, for the dry-run plan (no cluster is
    contacted: a remote executor's count is ``max_concurrent`` or one per configuration)."""
    widest = max(gpus_per_experiment, default=1) or 1
    if ex.executor == "local":
        if ex.parallel == "none" or ex.isolation == "exclusive_node":
            why = "isolation: exclusive_node" if ex.parallel != "none" else "parallel: none"
            return 1, f"local, one at a time ({why})"
        if gpus_seen <= 0:
            return 1, "local, no GPU seen here: one at a time"
        at_once = max(1, gpus_seen // widest)
        return at_once, f"local, {gpus_seen} GPU(s) / {widest} per experiment"
    cap = ex.max_concurrent
    name = ex.executor
    extra = ", one experiment per node" if ex.isolation == "exclusive_node" else ""
    if cap is not None:
        return cap, f"{name}, execution.max_concurrent={cap}{extra}"
    return len(gpus_per_experiment), (
        f"{name}, assuming the cluster runs every configuration of a cycle at once "
        f"({widest} GPU(s) each{extra}); set execution.max_concurrent to plan for fewer"
    )


def environment_for(gpu_ids: Sequence[str]) -> Mapping[str, str]:
    """The worker environment that shows it exactly these GPUs (UUIDs or indices)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(gpu_ids)}


def failed_attempt(sub: Submission, kind: str, message: str, **failure: Any) -> ExperimentResult:
    """A failed result for an attempt that produced none (lost, cancelled, impossible)."""
    from llem.results.failure import failed_result
    from llem.results.schema import Failure
    from llem.timestamps import utc_now

    return failed_result(
        sub.cfg,
        experiment_id=sub.entry_id,
        cycle=sub.cycle,
        started_at=utc_now(),
        failure=Failure(kind=kind, message=message, **failure),
    )
