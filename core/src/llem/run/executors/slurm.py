"""The Slurm executor (submitit): one job per attempt, ``--gpus`` as it needs.

Needs ``pip install llem-core[slurm]`` and a run directory on a filesystem every node
shares (the job writes its experiment files there; submitit keeps its job files and
logs under ``<run dir>/slurm/``). Partition, account, QoS, constraint, time limit, CPUs,
memory and setup lines come from ``execution.slurm``; ``isolation: exclusive_node``
adds ``--exclusive``.

State comes from the job's result file, else from ``scontrol show job`` (submitit's own
``sacct`` does not work on clusters without accounting): a job that ends CANCELLED
(``scancel``), PREEMPTED, NODE_FAIL, TIMEOUT, OUT_OF_MEMORY or FAILED without a result
is a failed attempt with that reason, which ``execution.retries`` retries. Ctrl+C
scancels every job of the study.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import structlog

from llem.config.schema import ExecutionConfig
from llem.errors import PreflightError
from llem.run.executors import Outcome, Started, Submission, failed_attempt

log = structlog.get_logger()

ENDED = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}
RESULT_GRACE_S = 15.0  # a COMPLETED job's result file may lag on a network filesystem


def job_main(sub: Submission, run_dir: str) -> Any:
    """What the Slurm job runs (pickled by submitit): the attempt, on its node."""
    from llem.run.executors.node import pause_here, run_here

    return run_here(sub, run_dir, pause_here(sub))


class SlurmExecutor:
    name = "slurm"

    def __init__(self, ex: ExecutionConfig, run_dir: Path) -> None:
        try:
            import submitit
        except ImportError:
            raise PreflightError(
                "execution.executor is slurm but submitit is not installed; install it "
                "with: pip install 'llem-core[slurm]'"
            ) from None
        self.submitit = submitit
        self.run_dir = Path(run_dir)
        self.settings = ex.slurm
        self.cap = ex.max_concurrent
        self.exclusive_node = ex.isolation == "exclusive_node"
        self.jobs: dict[str, tuple[Any, Submission]] = {}
        self.seen_running: set[str] = set()
        self.ended_at: dict[str, float] = {}
        self.checked_at = 0.0
        self.states: dict[str, tuple[str, str]] = {}

    def ready(self, sub: Submission) -> bool:
        return self.cap is None or len(self.jobs) < self.cap

    def submit(self, sub: Submission) -> None:
        executor = self.submitit.AutoExecutor(folder=self.run_dir / "slurm", cluster="slurm")
        executor.update_parameters(**self._parameters(sub))
        try:
            job = executor.submit(job_main, sub, str(self.run_dir))
        except Exception as exc:  # sbatch refused it: a failed attempt with its reason
            self.jobs[sub.entry_id] = (None, sub)
            self.states[sub.entry_id] = ("REFUSED", f"sbatch refused the job: {exc}")
            return
        self.jobs[sub.entry_id] = (job, sub)
        log.info("executor.slurm.submitted", id=sub.entry_id, job_id=job.job_id)

    def poll(self, timeout_s: float) -> list[Outcome | Started]:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            out = self._check()
            if out or not self.jobs or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def cancel_all(self) -> None:
        ids = [job.job_id for job, _sub in self.jobs.values() if job is not None]
        if ids:
            subprocess.run(["scancel", *ids], check=False, capture_output=True)
            log.info("executor.slurm.cancelled", job_ids=ids)
        self.jobs.clear()

    def close(self) -> None:
        pass

    # -- building blocks --------------------------------------------------------------
    def _parameters(self, sub: Submission) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "name": f"llem-{sub.entry_id}",
            "timeout_min": s.time_min,
            "slurm_partition": s.partition,
            "slurm_account": s.account,
            "slurm_qos": s.qos,
            "slurm_constraint": s.constraint,
            "slurm_setup": list(s.setup),
            "cpus_per_task": s.cpus_per_task,
            "mem_gb": s.mem_gb,
            "slurm_exclusive": True if self.exclusive_node else None,
            "slurm_additional_parameters": {"gpus": sub.gpus} if sub.gpus else {},
        }
        return {k: v for k, v in params.items() if v is not None}

    def _check(self) -> list[Outcome | Started]:
        out: list[Outcome | Started] = []
        refresh = time.monotonic() - self.checked_at >= self.settings.poll_s
        states = self._scontrol() if refresh else {}
        for entry_id, (job, sub) in list(self.jobs.items()):
            if job is not None and job.paths.result_pickle.exists():
                out.append(self._finished(entry_id, job, sub))
                continue
            state, reason = self.states.get(entry_id) or states.get(
                job.job_id if job is not None else "", ("", "")
            )
            if state == "RUNNING" and entry_id not in self.seen_running:
                self.seen_running.add(entry_id)
                out.append(Started(entry_id, reason or "unknown", time.time()))
            if state in ENDED or state == "REFUSED" or (refresh and state == "GONE"):
                if state == "COMPLETED" and not self._grace_over(entry_id):
                    continue
                out.append(self._lost(entry_id, sub, job, state, reason))
        return out

    def _scontrol(self) -> dict[str, tuple[str, str]]:
        """job id -> (state, node list or reason) of every job of ours; GONE for jobs
        scontrol no longer knows (purged after MinJobAge)."""
        self.checked_at = time.monotonic()
        states: dict[str, tuple[str, str]] = {}
        for job, _sub in self.jobs.values():
            if job is None:
                continue
            done = subprocess.run(
                ["scontrol", "show", "job", "-o", str(job.job_id)],
                capture_output=True,
                text=True,
                check=False,
            )
            fields = dict(part.split("=", 1) for part in done.stdout.split() if "=" in part)
            state = fields.get("JobState", "GONE" if done.returncode else "")
            detail = fields.get("NodeList", "") if state == "RUNNING" else fields.get("Reason", "")
            states[str(job.job_id)] = (state, detail)
        return states

    def _grace_over(self, entry_id: str) -> bool:
        first = self.ended_at.setdefault(entry_id, time.monotonic())
        return time.monotonic() - first >= RESULT_GRACE_S

    def _finished(self, entry_id: str, job: Any, sub: Submission) -> Outcome:
        self.jobs.pop(entry_id)
        try:
            report = job.result()
        except Exception as exc:  # the job function raised: its trace is in the job log
            return self._outcome_failed(sub, f"the Slurm job {job.job_id} failed: {exc}")
        return Outcome(
            entry_id,
            report.result,
            report.node,
            report.gpus,
            report.started,
            report.ended,
            report.paused_s,
            sub.pause.seconds,
        )

    def _lost(self, entry_id: str, sub: Submission, job: Any, state: str, reason: str) -> Outcome:
        self.jobs.pop(entry_id)
        self.states.pop(entry_id, None)
        if state == "REFUSED":
            return self._outcome_failed(sub, reason)
        job_id = job.job_id if job is not None else "?"
        why = {
            "CANCELLED": "was cancelled (scancel, or an administrator)",
            "PREEMPTED": "was preempted",
            "NODE_FAIL": "lost its node",
            "TIMEOUT": "ran past execution.slurm.time_min",
            "GONE": "vanished from Slurm",
        }.get(state, f"ended {state}")
        return self._outcome_failed(
            sub,
            f"the Slurm job {job_id} {why} before the experiment sent its result"
            + (f" ({reason})" if reason and reason != "None" else "")
            + f"; its log is in {self.run_dir / 'slurm'}",
        )

    def _outcome_failed(self, sub: Submission, message: str) -> Outcome:
        log.warning("executor.slurm.lost", id=sub.entry_id, message=message)
        now = time.time()
        result = failed_attempt(sub, "crash", message)
        return Outcome(sub.entry_id, result, "unknown", (), now, now)
