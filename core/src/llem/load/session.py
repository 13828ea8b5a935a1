"""One serving experiment's workload inside the worker: what the lifecycle calls in
serving mode instead of ``generate``.

``ServingRun`` starts the backend's serving front end once (``start_serving``, outside
any window), runs the warmup and then the measured load through one ``ServingLoop``, and
derives the serving sections of the result from what it saw. ``close`` stops serving.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llem.config.schema import ExperimentConfig
from llem.interfaces import Backend, Request, RequestRecord
from llem.load.generator import LoadRun, ServingLoop
from llem.load.plan import Plan, serving_plan
from llem.load.sections import (
    REQUESTS_NAME,
    load_outcome,
    requests_columns,
    window_energy,
    write_requests,
)
from llem.load.slo import request_latencies, slo_outcome
from llem.load.steady import RULE as STEADY_RULE
from llem.load.steady import SteadyWindow, steady_window
from llem.measure.attribution import Attribution
from llem.results.schema import MeasurementWarning, WarmupOutcome


class ServingRun:
    def __init__(self, backend: Backend, cfg: ExperimentConfig, requests: Sequence[Request]):
        self.cfg = cfg
        self.plan: Plan = serving_plan(cfg.load, requests, backend.vocab_size)
        self.loop = ServingLoop(backend, cfg.generation)
        self.loop.start()
        self.run: LoadRun | None = None
        self.steady: SteadyWindow | None = None
        self.steady_reason: str | None = None

    def warmup(self) -> WarmupOutcome:
        """Send the plan's warmup requests (``load.warmup_requests``, ``load.warmup_s``)."""
        plan = self.plan.warmup(self.cfg.load)
        if not plan.requests:
            return WarmupOutcome(runs=0, durations_s=(), cv=None, converged=None)
        t = time.perf_counter()
        run = self._drive(plan)
        return WarmupOutcome(
            runs=len(run.served), durations_s=(time.perf_counter() - t,), cv=None, converged=None
        )

    def measure(self) -> list[RequestRecord]:
        """Run the plan (inside the open window); the requests' records in send order."""
        self.run = self._drive(self.plan)
        records = [s.record for s in self.run.served]
        self.steady, self.steady_reason = steady_window(records, self.plan.concurrency)
        return records

    @property
    def edges(self) -> tuple[int, ...]:
        """Where attribution must cut its intervals: the steady state's edges."""
        return () if self.steady is None else (self.steady.t0_ns, self.steady.t1_ns)

    @property
    def scheduled_ns(self) -> dict[int, int | None]:
        served = self.run.served if self.run else ()
        return {s.record.request_id: s.t_scheduled_ns for s in served}

    def sections(
        self,
        window: tuple[int, int],
        attribution: Attribution,
        baseline_w: float | None,
        experiment_dir: Path,
        run_dir: Path,
    ) -> tuple[dict[str, Any], list[MeasurementWarning]]:
        """The result's serving fields (load, slo, whole_run, steady_state,
        requests_file) and the warnings they raise; writes requests.parquet."""
        assert self.run is not None
        records = [s.record for s in self.run.served]
        t0, t1 = window
        whole = window_energy("whole_run", window, t0, records, attribution, baseline_w)
        steady = window_energy(
            "steady_state",
            None if self.steady is None else (self.steady.t0_ns, self.steady.t1_ns),
            t0,
            records,
            attribution,
            baseline_w,
            level=None if self.steady is None else self.steady.level,
            rule=STEADY_RULE,
            reason=self.steady_reason,
        )
        load = load_outcome(self.cfg.load, self.plan, self.run)
        slo = slo_outcome(
            [request_latencies(r) for r in records],
            [s.ok for s in self.run.served],
            self.cfg.slo,
            (t1 - t0) / 1e9,
            whole.energy_j,
        )
        path = experiment_dir / REQUESTS_NAME
        write_requests(path, requests_columns(self.run, attribution, self.cfg.slo, t0))
        fields = {
            "load": load,
            "slo": slo,
            "whole_run": whole,
            "steady_state": steady,
            "requests_file": path.relative_to(run_dir).as_posix(),
        }
        return fields, self._warnings(load, steady)

    def _warnings(self, load: Any, steady: Any) -> list[MeasurementWarning]:
        out = []
        if load.overloaded:
            out.append(
                MeasurementWarning(
                    "overloaded",
                    f"the queue grew through the run (mean in flight {load.in_flight_early:.1f} "
                    f"early, {load.in_flight_late:.1f} late): the engine did not keep up with "
                    f"the offered {load.offered_rate_rps or 0:.3g} req/s (achieved "
                    f"{load.achieved_rate_rps or 0:.3g} req/s)",
                    "lower load.rate, or read the result as the engine's saturated throughput",
                )
            )
        if load.requests_failed:
            out.append(
                MeasurementWarning(
                    "requests_failed",
                    f"{load.requests_failed} of {load.requests_sent} requests failed "
                    f"(see the error column of requests.parquet)",
                    "check the backend's log; failed requests count against the SLO",
                )
            )
        if steady.duration_s is None:
            out.append(
                MeasurementWarning(
                    "no_steady_state",
                    f"no steady-state window: {steady.null_reason}; the whole run is the headline",
                    "lengthen the run (load.duration_s, dataset.num_prompts)",
                )
            )
        return out

    def _drive(self, plan: Plan) -> LoadRun:
        return self.loop.run(
            plan.requests,
            plan.arrivals,
            concurrency=plan.concurrency,
            duration_s=plan.duration_s,
        )

    def close(self) -> None:
        self.loop.close()
