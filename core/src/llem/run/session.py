"""One session of running a study's pending entries: a first run or a resume.

The loop behind ``run_study``/``resume_study``: for each entry not yet done, wait its
gap (a countdown), run it in a worker (``execution.retries`` more attempts if it fails),
hand the result to every sink, then mark it done/failed in manifest.json -- in that
order, so a crash between the two re-runs an experiment rather than losing one. On
Ctrl+C the running entry becomes ``interrupted``, study.json gets what finished and
``Interrupted`` (exit code 130) says how to resume. A failing sink is reported and
never stops the study.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog

from llem.analysis.aggregate import aggregate_results
from llem.analysis.metrics import DEFAULT_PARETO_METRIC, ENERGY_METRIC
from llem.analysis.pareto import pareto_front
from llem.config.schema import StudyConfig
from llem.errors import Interrupted, PluginError
from llem.results.schema import ExperimentResult, StudyResult
from llem.run.manifest import Manifest, ManifestEntry, StudyStatus, write_manifest
from llem.run.order import Gap, gap_seconds
from llem.run.progress import EventPump, Reporter
from llem.run.rundir import utc_now

log = structlog.get_logger()


class StudySession:
    """One session of running a study's pending entries (a first run or a resume)."""

    def __init__(
        self,
        study: StudyConfig,
        run_dir: Path,
        manifest: Manifest,
        previous: Mapping[str, ExperimentResult],
        reporter: Reporter,
    ) -> None:
        self.study = study
        self.run_dir = run_dir
        self.manifest = manifest
        self.results: dict[str, ExperimentResult] = dict(previous)
        self.reporter = reporter
        self.running: str | None = None
        self.sinks: list[Any] = []
        self.params = params_by_hash(study)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> StudyResult:
        from llem.logs import add_run_log, remove_run_log

        run_log = add_run_log(self.run_dir)
        events = multiprocessing.get_context("spawn").Queue()
        pump = EventPump(events, self.reporter).start()
        try:
            self.sinks = open_sinks(self.study, self.run_dir)
            todo = [e for e in self.manifest.entries if e.status != "done"]
            done_before = len(self.manifest.entries) - len(todo)
            self.reporter.study_started(
                self.study.name,
                str(self.run_dir),
                len(self.manifest.entries),
                done_before,
                _describe(self.study, len(todo)),
            )
            log.info(
                "study.started",
                study=self.study.name,
                run_dir=str(self.run_dir),
                todo=len(todo),
                total=len(self.manifest.entries),
            )
            for i, entry in enumerate(todo):
                if i > 0:
                    self._wait(entry.gap_before)
                self._run_entry(entry, done_before + i + 1, todo[i + 1 :], events)
            failed = any(r.status != "ok" for r in self.results.values())
            return self._finish("failed" if failed else "complete")
        except KeyboardInterrupt:
            self._interrupted()
            raise Interrupted(
                f"interrupted: {len(self.results)} of {len(self.manifest.entries)} "
                f"experiments finished and are kept in {self.run_dir}; carry on with: "
                f"llem run --resume {self.run_dir}"
            ) from None
        finally:
            pump.stop()
            events.close()
            events.join_thread()
            for sink in self.sinks:
                _safely(sink.close, "sink.close_failed", sink)
            self.reporter.close()
            remove_run_log(run_log)

    def _run_entry(
        self, entry: ManifestEntry, position: int, rest: Sequence[ManifestEntry], events: Any
    ) -> None:
        from llem.run.worker import run_in_worker

        ex = self.study.execution
        cfg = self.study.experiments[entry.config_index]
        remaining_gaps = sum(
            gap_seconds(e.gap_before, ex.config_gap_s, ex.cycle_gap_s) for e in rest
        )
        label = _label(entry, self.params.get(entry.config_hash, {}))
        for attempt in range(1, ex.retries + 2):
            if attempt > 1:
                self._wait_seconds(ex.config_gap_s, "config_gap_s, before the retry")
            attempts = self.manifest.entry(entry.id).attempts + 1
            self._update(
                entry.id,
                status="running",
                attempts=attempts,
                started_at=utc_now(),
                ended_at=None,
                duration_s=None,
            )
            self.running = entry.id
            self.reporter.experiment_started(label, position, attempt, remaining_gaps)
            log.info("experiment.started", id=entry.id, cycle=entry.cycle, attempt=attempt)
            t0 = time.monotonic()
            result = run_in_worker(
                cfg,
                experiment_id=entry.id,
                cycle=entry.cycle,
                run_dir=self.run_dir,
                timeout_s=ex.timeout_s,
                events=events,
            )
            duration = time.monotonic() - t0
            last = result.status == "ok" or attempt == ex.retries + 1
            self.reporter.experiment_finished(result, duration, counted=last)
            if last:
                self._record(entry, result, duration)
                return
            log.warning(
                "experiment.retrying", id=entry.id, attempt=attempt, error=_error_line(result)
            )
            self._update(
                entry.id,
                status="failed",
                ended_at=utc_now(),
                duration_s=round(duration, 3),
                error=_error_line(result),
            )

    def _record(self, entry: ManifestEntry, result: ExperimentResult, duration: float) -> None:
        """Hand the result to every sink, then mark it done/failed in the manifest."""
        for sink in self.sinks:
            _safely(
                lambda s=sink: s.write_experiment(result), "sink.write_failed", sink, self.reporter
            )
        from llem.results.sinks import result_path

        result_file = result_path(self.run_dir, entry.id)
        self._update(
            entry.id,
            status="done" if result.status == "ok" else "failed",
            ended_at=utc_now(),
            duration_s=round(duration, 3),
            result=str(result_file.relative_to(self.run_dir)) if result_file.exists() else None,
            error=None if result.status == "ok" else _error_line(result),
        )
        self.results[entry.id] = result
        self.running = None
        log.info(
            "experiment.finished", id=entry.id, status=result.status, duration_s=round(duration, 3)
        )

    def _wait(self, gap: Gap | None) -> None:
        ex = self.study.execution
        self._wait_seconds(gap_seconds(gap, ex.config_gap_s, ex.cycle_gap_s), f"{gap}_gap_s")

    def _wait_seconds(self, seconds: float, reason: str) -> None:
        """Sleep ``seconds`` as a countdown (Ctrl+C interrupts it at once)."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.reporter.wait_tick(left, reason)
            time.sleep(min(0.5, left))
        self.reporter.wait_tick(0, reason)

    # -- endings ------------------------------------------------------------------------
    def _finish(self, status: StudyStatus) -> StudyResult:
        result = study_result(
            self.study, self.run_dir, self.manifest, self.results, status, self.params
        )
        for sink in self.sinks:
            _safely(lambda s=sink: s.write_study(result), "sink.write_failed", sink, self.reporter)
        self.manifest = attrs.evolve(self.manifest, status=status, updated_at=utc_now())
        write_manifest(self.run_dir, self.manifest)
        log.info(
            "study.finished",
            status=status,
            run_dir=str(self.run_dir),
            failed=len(result.failures),
            pareto_front=list(result.pareto_front),
        )
        self.reporter.study_finished(result)
        return result

    def _interrupted(self) -> None:
        if self.running is not None:
            self._update(
                self.running,
                status="interrupted",
                ended_at=utc_now(),
                error="interrupted by the user (Ctrl+C)",
            )
        self.manifest = attrs.evolve(self.manifest, status="interrupted", updated_at=utc_now())
        write_manifest(self.run_dir, self.manifest)
        result = study_result(
            self.study, self.run_dir, self.manifest, self.results, "interrupted", self.params
        )
        for sink in self.sinks:
            _safely(lambda s=sink: s.write_study(result), "sink.write_failed", sink)
        log.warning(
            "study.interrupted",
            run_dir=str(self.run_dir),
            finished=len(self.results),
            total=len(self.manifest.entries),
        )

    def _update(self, entry_id: str, **changes: Any) -> None:
        self.manifest = self.manifest.update(entry_id, utc_now(), **changes)
        write_manifest(self.run_dir, self.manifest)


# -- building blocks ----------------------------------------------------------------------


def study_result(
    study: StudyConfig,
    run_dir: Path,
    manifest: Manifest,
    results: Mapping[str, ExperimentResult],
    status: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> StudyResult:
    """The StudyResult of the finished entries, in plan order, with aggregates + front."""
    experiments = tuple(results[e.id] for e in manifest.entries if e.id in results)
    params = params if params is not None else params_by_hash(study)
    metric = getattr(study.output, "pareto_metric", DEFAULT_PARETO_METRIC)
    return StudyResult(
        name=study.name,
        run_dir=str(run_dir),
        status=status,  # type: ignore[arg-type]
        started_at=manifest.created_at,
        ended_at=utc_now(),
        experiments=experiments,
        aggregates=aggregate_results(experiments, params, seed=study.execution.seed),
        pareto_front=pareto_front(experiments, metric),
        pareto_axes=(ENERGY_METRIC, metric),
    )


def hashes_of(study: StudyConfig) -> list[str]:
    from llem.config.identity import config_hash

    return [config_hash(e) for e in study.experiments]


def params_by_hash(study: StudyConfig) -> dict[str, dict[str, Any]]:
    from llem.config.identity import varying_params

    params = [dict(p) for p in varying_params(study.experiments)]
    return dict(zip(hashes_of(study), params, strict=True))


def open_sinks(study: StudyConfig, run_dir: Path) -> list[Any]:
    from llem.plugins import get_registry

    registry = get_registry()
    sinks = []
    for name in study.output.sinks:
        cls: Any = registry.get("sink", name)
        section = None
        if cls.config_type is not None and study.experiments:
            section = study.experiments[0].section(name)
        sink = cls(section)
        try:
            sink.open(run_dir)
        except Exception as exc:
            raise PluginError(
                f"sink {name!r} ({cls.distribution}) could not open "
                f"{run_dir}: {type(exc).__name__}: {exc}"
            ) from exc
        sinks.append(sink)
    return sinks


def _safely(call: Any, event: str, sink: Any, reporter: Reporter | None = None) -> None:
    """Run a sink call; a broken sink is reported, never allowed to stop the study."""
    try:
        call()
    except Exception as exc:
        name = getattr(sink, "name", type(sink).__name__)
        log.error(event, sink=name, error=f"{type(exc).__name__}: {exc}")
        if reporter is not None:
            reporter.note(f"warning: sink {name!r} failed: {type(exc).__name__}: {exc}")


def _label(entry: ManifestEntry, params: Mapping[str, Any]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    head = f"{entry.name} {entry.id}" if entry.name else entry.id
    return f"{head} {shown}".rstrip()


def _error_line(result: ExperimentResult) -> str:
    if result.error is None:
        return "failed"
    first = (result.error.message or "").strip().splitlines()
    return f"{result.error.kind}: {first[0] if first else ''}".rstrip(": ")[:500]


def _describe(study: StudyConfig, todo: int) -> str:
    ex = study.execution
    n = len(study.experiments)
    return (
        f"{n} configuration{'s' if n != 1 else ''} x {ex.cycles} "
        f"cycle{'s' if ex.cycles != 1 else ''}, order {ex.order}, "
        f"{todo} to run"
    )
