"""One session of running a study's pending entries: a first run or a resume.

The loop behind ``run_study``/``resume_study``: the entries not yet done go to the
executor (llem.run.executors; the loop: llem.run.dispatch), which waits each one's gap
and runs it in a worker where it places it (``execution.retries`` more attempts if it
fails); each result goes to every sink, then is marked done/failed in manifest.json --
in that order, so a crash between the two re-runs an experiment rather than losing
one. This session is the only writer of the manifest, whatever the executor. On Ctrl+C
the executor cancels what runs, those entries become ``interrupted``, study.json gets
what finished and ``Interrupted`` (exit code 130) says how to resume. A failing sink is
reported and never stops the study. ``cycles: auto`` adds rounds (llem.run.adaptive).
"""

from __future__ import annotations

import contextlib
import multiprocessing
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
from llem.results.io import StorageError
from llem.results.schema import ExperimentResult, StudyResult
from llem.run.manifest import Manifest, ManifestEntry, StudyStatus, write_manifest
from llem.run.order import waits_note
from llem.run.progress import EventPump, Reporter
from llem.timestamps import utc_now

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
        self.running: set[str] = set()  # entries with an attempt in flight
        self.dispatch: Any = None  # llem.run.dispatch.Dispatch, while run() runs
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
                _describe(self.study, todo),
            )
            log.info(
                "study.started",
                study=self.study.name,
                run_dir=str(self.run_dir),
                todo=len(todo),
                total=len(self.manifest.entries),
            )
            self._dispatch(todo, done_before + 1, events)
            failed = any(r.status != "ok" for r in self.results.values())
            return self._finish("failed" if failed else "complete")
        except StorageError as exc:
            self._storage_failed(exc)
            raise
        except KeyboardInterrupt as exc:  # Ctrl+C, or SIGTERM (llem.run.stop)
            from llem.run import stop

            self._interrupted(stop.cause(exc))
            stopped = Interrupted(
                f"interrupted by {stop.cause(exc)}: {len(self.results)} of "
                f"{len(self.manifest.entries)} experiments finished and are kept in "
                f"{self.run_dir}; carry on with: llem run --resume {self.run_dir}"
            )
            stopped.exit_code = stop.exit_code(exc)  # 130 Ctrl+C, 143 SIGTERM
            raise stopped from None
        finally:
            pump.stop()
            events.close()
            events.join_thread()
            for sink in self.sinks:
                _safely(sink.close, "sink.close_failed", sink)
            self.reporter.close()
            remove_run_log(run_log)

    def _dispatch(self, todo: Sequence[ManifestEntry], position: int, events: Any) -> None:
        """Run ``todo`` through the configured executor (llem.run.executors), then the
        extra rounds ``cycles: auto`` asks for."""
        from llem.run.dispatch import Dispatch
        from llem.run.executors import make_executor

        ex = self.study.execution
        executor = make_executor(ex, self.run_dir, events, self.reporter.wait_tick)
        self.dispatch = Dispatch(self, executor)
        try:
            while todo:
                self.dispatch.run(todo, position)
                position += len(todo)
                todo = self._next_round()
        finally:
            executor.close()

    def attempt_started(
        self, entry: ManifestEntry, position: int, attempt: int, remaining_gaps: float
    ) -> None:
        """An attempt of ``entry`` goes to the executor: mark it running."""
        self._update(
            entry.id,
            status="running",
            attempts=self.manifest.entry(entry.id).attempts + 1,
            started_at=utc_now(),
            ended_at=None,
            duration_s=None,
        )
        self.running.add(entry.id)
        label = _label(entry, self.params.get(entry.config_hash, {}))
        self.reporter.experiment_started(label, position, attempt, remaining_gaps)
        log.info("experiment.started", id=entry.id, cycle=entry.cycle, attempt=attempt)

    def attempt_finished(
        self,
        entry: ManifestEntry,
        result: ExperimentResult,
        duration: float,
        last: bool,
        placement: Any,
    ) -> None:
        """An attempt came back: record it if it is the last, else mark it failed (the
        dispatch loop queues the retry)."""
        from llem.run.isolation import placed

        result = placed(result, placement)
        label = _label(entry, self.params.get(entry.config_hash, {}))
        self.reporter.experiment_finished(result, duration, counted=last, label=label)
        if last:
            self._record(entry, result, duration)
            return
        self.running.discard(entry.id)
        log.warning("experiment.retrying", id=entry.id, error=_error_line(result))
        self._update(
            entry.id,
            status="failed",
            ended_at=utc_now(),
            duration_s=round(duration, 3),
            error=_error_line(result),
        )

    def _next_round(self) -> list[ManifestEntry]:
        """``cycles: auto``: one more cycle for each configuration still too wide, added
        to the manifest (empty when every configuration is tight or at max_cycles)."""
        from llem.run import adaptive

        ex = self.study.execution
        if ex.cycles != "auto":
            return []
        planned = [(e.config_index, e.id) for e in self.manifest.entries]
        grow = adaptive.next_round(
            adaptive.spreads(planned, self.results), ex.target_ci, ex.max_cycles
        )
        new = []
        for i, spread in enumerate(grow):
            old = next(e for e in self.manifest.entries if e.config_index == spread.config_index)
            cycle = spread.cycles + 1
            new.append(
                attrs.evolve(
                    old,
                    id=f"{old.config_hash}-c{cycle}",
                    cycle=cycle,
                    gap_before="cycle" if i == 0 else "config",
                    status="pending",
                    attempts=0,
                    result=None,
                    started_at=None,
                    ended_at=None,
                    duration_s=None,
                    error=None,
                )
            )
        if new:
            log.info("study.more_cycles", configs=[e.config_hash for e in new])
            self.manifest = attrs.evolve(
                self.manifest, entries=self.manifest.entries + tuple(new), updated_at=utc_now()
            )
            write_manifest(self.run_dir, self.manifest)
        return new

    def _record(self, entry: ManifestEntry, result: ExperimentResult, duration: float) -> None:
        """Hand the result to every sink, then mark it done/failed in the manifest. A
        sink that cannot write for lack of storage tries once more with the result still
        in memory, then stops the study (StorageError): the manifest keeps the entry not
        done, so a resume measures it again."""
        from llem.results.io import write_retrying
        from llem.results.sinks import result_path

        for sink in self.sinks:
            _safely(
                lambda s=sink: write_retrying(
                    lambda: s.write_experiment(result),
                    f"the result of {entry.id} (sink {getattr(s, 'name', type(s).__name__)})",
                    result_path(self.run_dir, entry.id),
                ),
                "sink.write_failed",
                sink,
                self.reporter,
            )

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
        self.running.discard(entry.id)
        log.info(
            "experiment.finished", id=entry.id, status=result.status, duration_s=round(duration, 3)
        )

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
        for line in self._notes():
            self.reporter.note(line)
        return result

    def _notes(self) -> list[str]:
        """Summary lines on auto cycles and the temperature cool-down."""
        from llem.run.progress import study_notes

        return study_notes(self.study, self.manifest, self.results, self.dispatch)

    def _interrupted(self, cause: str = "the user (Ctrl+C)") -> None:
        for entry_id in sorted(self.running):
            self._update(
                entry_id,
                status="interrupted",
                ended_at=utc_now(),
                error=f"interrupted by {cause}",
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

    def _storage_failed(self, exc: StorageError) -> None:
        """Stop on a write that failed twice: mark what was running interrupted if the
        manifest can still be written (else the last one written stays, equally
        resumable: an entry not done is run again), and say how to carry on."""
        for entry_id in sorted(self.running):
            self.manifest = self.manifest.update(
                entry_id, utc_now(), status="interrupted", error=f"storage: {exc}"[:500]
            )
        self.manifest = attrs.evolve(self.manifest, status="interrupted", updated_at=utc_now())
        with contextlib.suppress(OSError):
            write_manifest(self.run_dir, self.manifest)
        log.error("study.storage_failed", run_dir=str(self.run_dir), error=str(exc))
        exc.args = (
            f"{exc}. The study stopped; {len(self.results)} finished experiment(s) are kept "
            f"in {self.run_dir}; once that is fixed, carry on with: "
            f"llem run --resume {self.run_dir}",
        )

    def _update(self, entry_id: str, **changes: Any) -> None:
        from llem.results.io import write_retrying
        from llem.run.manifest import MANIFEST_NAME

        self.manifest = self.manifest.update(entry_id, utc_now(), **changes)
        manifest = self.manifest
        write_retrying(
            lambda: write_manifest(self.run_dir, manifest),
            "the manifest",
            self.run_dir / MANIFEST_NAME,
        )


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
    from llem.results.io import StorageError

    try:
        call()
    except StorageError:
        raise  # no room to write results: the study stops (see StudySession._record)
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


def _describe(study: StudyConfig, todo: Sequence[ManifestEntry]) -> str:
    ex = study.execution
    n = len(study.experiments)
    cycles = (
        f"{ex.first_cycles}+ cycles (auto: to ±{ex.target_ci:.0%} or {ex.max_cycles})"
        if ex.cycles == "auto"
        else f"{ex.cycles} cycle{'s' if ex.cycles != 1 else ''}"
    )
    where = "" if ex.executor == "local" and ex.parallel == "none" else f", {ex.executor}"
    if ex.parallel != "none" and ex.executor == "local":
        where += f" parallel {ex.parallel}"
    line = (
        f"{n} configuration{'s' if n != 1 else ''} x {cycles}, order {ex.order}{where}, "
        f"{len(todo)} to run"
    )
    floors = [study.experiments[e.config_index].warmup.thermal_floor_s for e in todo]
    waits = waits_note([e.gap_before for e in todo], floors, ex.config_gap_s, ex.cycle_gap_s)
    return line if waits is None else f"{line}; {waits}"
