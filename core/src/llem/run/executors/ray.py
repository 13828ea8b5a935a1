"""The Ray executor: each attempt a Ray task that reserves the GPUs it needs.

Needs ``pip install llem-core[ray]`` (and llem, with the study's plugins, on every node
of the cluster). ``execution.ray.address`` connects to a running cluster (``auto``:
RAY_ADDRESS or the local one); none starts a private Ray on this machine. A task asks
for ``num_gpus`` (or, with ``ray.gpu_resource``, that many of a custom resource, e.g. a
stand-in in tests), runs the experiment through the same worker code on whichever node
Ray places it (llem.run.executors.node) and streams back two items: "started on node
N" (for the isolation record) and the result with its experiment files as bytes, which
the driver writes into the run directory: no shared filesystem is needed.

Failures are attempts, not crashes of the study: a task whose worker or node died, or
that was cancelled, comes back as a failed result with Ray's reason, and
``execution.retries`` decides. Tasks never retry inside Ray (``max_retries=0``): the
study session owns retries. ``cancel_all`` (Ctrl+C) asks each task to stop
(``ray.cancel``: a KeyboardInterrupt in the task, on which the worker kills its process
group), then force-kills what is left after a grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from llem.config.schema import ExecutionConfig
from llem.errors import PreflightError
from llem.run.executors import Outcome, Started, Submission, failed_attempt

log = structlog.get_logger()

CANCEL_GRACE_S = 10.0


def import_ray() -> Any:
    """``import ray``, or a PreflightError saying how to install it."""
    shield_broken_amdsmi()
    try:
        import ray
    except ImportError:
        raise PreflightError(
            "execution.executor is ray but Ray is not installed; install it with: "
            "pip install 'llem-core[ray]'"
        ) from None
    return ray


def shield_broken_amdsmi() -> None:
    """Make a broken ``amdsmi`` look absent to Ray (this process and those it starts).

    ``amdsmi`` (a dependency of zeus) raises KeyError, not ImportError, when AMD's
    libamd_smi.so is missing; Ray imports it while detecting accelerators in every
    process it starts (``import ray`` itself), so each of them dies. An ``amdsmi`` that
    raises ImportError, first on the path, is what Ray expects on a machine without AMD
    GPUs.
    """
    try:
        import amdsmi  # noqa: F401
    except ImportError:
        return
    except Exception:
        shim = Path(tempfile.gettempdir()) / f"llem-amdsmi-shim-{os.getuid()}"
        shim.mkdir(exist_ok=True)
        (shim / "amdsmi.py").write_text(
            'raise ImportError("amdsmi: libamd_smi.so is not installed (llem shim)")\n'
        )
        sys.modules["amdsmi"] = None  # type: ignore[assignment]
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(shim) not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([str(shim), *paths])
        log.info("executor.ray.amdsmi_shielded", shim=str(shim))


def init_keeping_signals(ray: Any, **kwargs: Any) -> Any:
    """``ray.init(**kwargs)`` without its SIGTERM handler: Ray's driver installs one that
    would replace llem's (SIGTERM stops the study like Ctrl+C, exit 143)."""
    saved = signal.getsignal(signal.SIGTERM)
    try:
        return ray.init(**kwargs)
    finally:
        signal.signal(signal.SIGTERM, saved)


def experiment_task(sub: Submission) -> Iterator[Any]:
    """The Ray task (a streaming generator): where it started, then its NodeReport."""
    from llem.run.executors.node import node_name, pause_here, run_here

    paused = pause_here(sub)
    yield Started(sub.entry_id, node_name(), time.time())
    yield run_here(sub, None, paused)


class RayExecutor:
    name = "ray"

    def __init__(self, ex: ExecutionConfig, run_dir: Path) -> None:
        self.ray = ray = import_ray()
        self.run_dir = Path(run_dir)
        self.exclusive_node = ex.isolation == "exclusive_node"
        self.cap = ex.max_concurrent
        self.resource = ex.ray.gpu_resource
        self.owns = not ray.is_initialized()
        if self.owns:
            try:
                init_keeping_signals(
                    ray, address=ex.ray.address, include_dashboard=False, log_to_driver=False
                )
            except Exception as exc:
                raise PreflightError(
                    f"Ray could not start or connect (execution.ray.address="
                    f"{ex.ray.address!r}): {type(exc).__name__}: {exc}"
                ) from None
        self.task = ray.remote(max_retries=0)(experiment_task)
        self.running: dict[str, tuple[Any, Submission, str | None]] = {}
        self.busy_nodes: set[str] = set()

    # -- the interface ----------------------------------------------------------------
    def ready(self, sub: Submission) -> bool:
        if self.cap is not None and len(self.running) >= self.cap:
            return False
        return not self.exclusive_node or self._free_node(sub) is not None

    def submit(self, sub: Submission) -> None:
        node = self._free_node(sub) if self.exclusive_node else None
        resources: dict[str, float] = {}
        options: dict[str, Any] = {"num_cpus": 1}
        if sub.gpus and self.resource == "GPU":
            options["num_gpus"] = sub.gpus
        elif sub.gpus:
            resources[self.resource] = float(sub.gpus)
        if node is not None:
            resources[f"node:{node}"] = 0.001  # pinned to the node we keep to ourselves
            self.busy_nodes.add(node)
        if resources:
            options["resources"] = resources
        gen = self.task.options(**options).remote(sub)
        self.running[sub.entry_id] = (gen, sub, node)
        log.info("executor.ray.submitted", id=sub.entry_id, **options)

    def poll(self, timeout_s: float) -> list[Outcome | Started]:
        if not self.running:
            time.sleep(min(timeout_s, 0.1))
            return []
        gens = [g for g, _s, _n in self.running.values()]
        ready, _ = self.ray.wait(gens, num_returns=1, timeout=max(timeout_s, 0.0))
        out: list[Outcome | Started] = []
        for entry_id, (gen, sub, _node) in list(self.running.items()):
            if gen in ready:
                out.extend(self._take(entry_id, gen, sub))
        return out

    def cancel_all(self) -> None:
        for gen, _sub, _node in self.running.values():
            self._cancel(gen, force=False)
        deadline = time.monotonic() + CANCEL_GRACE_S
        for gen, _sub, _node in self.running.values():
            left = max(0.0, deadline - time.monotonic())
            done, _ = self.ray.wait([gen], timeout=left)
            if not done:
                self._cancel(gen, force=True)
        log.info("executor.ray.cancelled", ids=list(self.running))
        self.running.clear()

    def close(self) -> None:
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()

    # -- building blocks --------------------------------------------------------------
    def _take(self, entry_id: str, gen: Any, sub: Submission) -> list[Outcome | Started]:
        from llem.run.executors.node import NodeReport, write_files

        try:
            item = self.ray.get(next(gen))
        except StopIteration:
            item = None
        except Exception as exc:  # the task, its worker or its node is gone
            self._forget(entry_id)
            return [self._lost(sub, exc)]
        if isinstance(item, Started):
            return [item]
        self._forget(entry_id)
        if not isinstance(item, NodeReport):
            return [self._lost(sub, RuntimeError("the task ended without a result"))]
        write_files(self.run_dir, item.files)
        return [
            Outcome(
                entry_id,
                item.result,
                item.node,
                item.gpus,
                item.started,
                item.ended,
                item.paused_s,
                sub.pause.seconds,
            )
        ]

    def _forget(self, entry_id: str) -> None:
        _gen, _sub, node = self.running.pop(entry_id)
        self.busy_nodes.discard(node or "")

    def _lost(self, sub: Submission, exc: BaseException) -> Outcome:
        kind = type(exc).__name__
        message = f"the Ray task ended without a result ({kind}): {str(exc).strip()[:400]}"
        log.warning("executor.ray.lost", id=sub.entry_id, error=kind)
        now = time.time()
        return Outcome(sub.entry_id, failed_attempt(sub, "crash", message), "unknown", (), now, now)

    def _cancel(self, gen: Any, force: bool) -> None:
        try:
            self.ray.cancel(gen, force=force)
        except Exception as exc:  # already finished, or its node is gone
            log.info("executor.ray.cancel_failed", error=f"{type(exc).__name__}: {exc}")

    def _free_node(self, sub: Submission) -> str | None:
        """An alive node with enough GPUs that runs none of our experiments now."""
        key = "GPU" if self.resource == "GPU" else self.resource
        for node in self.ray.nodes():
            address = node.get("NodeManagerAddress")
            if not node.get("Alive") or address in self.busy_nodes:
                continue
            if node.get("Resources", {}).get(key, 0) >= sub.gpus:
                return address
        return None
