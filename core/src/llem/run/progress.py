"""What a study shows while it runs: a live rich display on a terminal, plain lines
otherwise, nothing with ``progress=False``.

The live display: the study bar (done/total, elapsed, ETA from the measured durations
of finished experiments plus the gaps still to wait), the running experiment and its
phase (baseline, load, warmup, thermal floor, measuring) and the live power of its GPUs,
refreshed once per second. Events from the worker arrive on a multiprocessing queue;
``EventPump`` drains it on a thread so a full queue never blocks the worker.
Human output only: logs go through structlog.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from llem.results.schema import ExperimentResult, StudyResult


def escape(text: str) -> str:
    """Rich markup escaping for text we did not write (names, params, errors)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


PHASE_LABELS = {
    "baseline": "idle baseline",
    "load": "loading model",
    "warmup": "warmup",
    "thermal_floor": "thermal floor",
    "measuring": "measuring",
    "done": "finishing",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def estimate_remaining(
    durations: Sequence[float], remaining_runs: int, remaining_gap_s: float
) -> float | None:
    """Mean measured experiment duration x runs left, plus the gaps left; None before
    the first experiment finished (nothing measured to go by)."""
    if remaining_runs == 0:
        return 0.0
    if not durations:
        return None
    return sum(durations) / len(durations) * remaining_runs + remaining_gap_s


def result_line(result: ExperimentResult, duration_s: float) -> str:
    """One line about a finished experiment: its key figures or why it failed."""
    if result.status != "ok":
        err = result.error
        why = f"{err.kind}: {err.message}" if err else "failed"
        return f"failed after {duration_s:.1f} s ({why.splitlines()[0] if why else why})"
    parts = [f"ok in {duration_s:.1f} s"]
    perf, energy = result.performance, result.energy
    if perf is not None:
        parts.append(f"{perf.tokens_per_second:.1f} tok/s")
    if energy is not None and energy.energy_per_output_token_j is not None:
        parts.append(f"{energy.energy_per_output_token_j:.4g} J/token")
    elif energy is not None and energy.null_reason:
        parts.append("energy n/a")
    return ", ".join(parts)


class Reporter:
    """The silent reporter; the others override what they show."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.name = ""
        self.total = 0
        self.done = 0
        self.durations: list[float] = []
        self.started = time.monotonic()
        self.remaining_gap_s = 0.0
        self.current: str | None = None  # label of the running experiment
        self.current_started: float | None = None
        self.phase: str | None = None
        self.power: Mapping[str, float] = {}
        self.waiting: tuple[float, str] | None = None

    # -- called by the study runner (main thread) --------------------------------------
    def study_started(
        self, name: str, run_dir: str, total: int, done: int, description: str
    ) -> None:
        with self._lock:
            self.name, self.total, self.done = name, total, done
            self.started = time.monotonic()

    def experiment_started(
        self, label: str, position: int, attempt: int, remaining_gap_s: float
    ) -> None:
        with self._lock:
            self.current = f"[{position}/{self.total}] {label}"
            if attempt > 1:
                self.current += f" (attempt {attempt})"
            self.current_started = time.monotonic()
            self.phase, self.power, self.waiting = None, {}, None
            self.remaining_gap_s = remaining_gap_s

    def experiment_finished(
        self, result: ExperimentResult, duration_s: float, counted: bool, label: str | None = None
    ) -> None:
        """``label``: which experiment, when several run at once (else the current one)."""
        with self._lock:
            self.durations.append(duration_s)
            if counted:
                self.done += 1
            self.current = self.phase = None
            self.power = {}

    def wait_tick(self, seconds_left: float, reason: str) -> None:
        with self._lock:
            self.waiting = (seconds_left, reason) if seconds_left > 0 else None

    def note(self, text: str) -> None:
        """A message the user must see (environment changed, nothing to resume)."""

    def study_finished(self, study: StudyResult) -> None:
        pass

    def close(self) -> None:
        pass

    # -- called by EventPump (its own thread) ------------------------------------------
    def event(self, event: Any) -> None:
        if not (isinstance(event, tuple) and len(event) == 3):
            return
        kind, _experiment_id, payload = event
        with self._lock:
            if kind == "phase":
                self.phase = str(payload)
            elif kind == "power" and isinstance(payload, Mapping):
                self.power = dict(payload)
        if kind == "phase":
            self.phase_changed(str(payload))

    def phase_changed(self, phase: str) -> None:
        pass

    def eta_s(self) -> float | None:
        return estimate_remaining(self.durations, self.total - self.done, self.remaining_gap_s)


class PlainReporter(Reporter):
    """Plain lines for logs and pipes: one per event that matters, no redrawing."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self._last_wait_reason: str | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def study_started(
        self, name: str, run_dir: str, total: int, done: int, description: str
    ) -> None:
        super().study_started(name, run_dir, total, done, description)
        self._print(f"study {name}: {description}")
        self._print(f"run directory: {run_dir}")

    def experiment_started(
        self, label: str, position: int, attempt: int, remaining_gap_s: float
    ) -> None:
        super().experiment_started(label, position, attempt, remaining_gap_s)
        self._last_wait_reason = None
        self._print(f"{self.current} started")

    def phase_changed(self, phase: str) -> None:
        self._print(f"  {PHASE_LABELS.get(phase, phase)}")

    def experiment_finished(
        self, result: ExperimentResult, duration_s: float, counted: bool, label: str | None = None
    ) -> None:
        label = self.current if label is None else label
        super().experiment_finished(result, duration_s, counted)
        eta = self.eta_s()
        self._print(
            f"{label} {result_line(result, duration_s)} "
            f"({self.done}/{self.total} done, ETA {format_duration(eta)})"
        )

    def wait_tick(self, seconds_left: float, reason: str) -> None:
        super().wait_tick(seconds_left, reason)
        if seconds_left > 0 and reason != self._last_wait_reason:
            self._last_wait_reason = reason
            self._print(f"waiting {seconds_left:.0f} s ({reason})")

    def note(self, text: str) -> None:
        self._print(text)

    def study_finished(self, study: StudyResult) -> None:
        from llem.run.summary import summary_lines

        for line in summary_lines(study):
            self._print(line)


class RichReporter(Reporter):
    """The live display on a terminal."""

    def __init__(self, console: Any) -> None:
        super().__init__()
        from rich.live import Live

        self.console = console
        self.live = Live(
            console=console, get_renderable=self._render, refresh_per_second=1, transient=True
        )

    def study_started(
        self, name: str, run_dir: str, total: int, done: int, description: str
    ) -> None:
        super().study_started(name, run_dir, total, done, description)
        self.console.print(f"[bold]study {escape(name)}[/]: {escape(description)}", highlight=False)
        self.console.print(f"run directory: {escape(run_dir)}", highlight=False)
        self.live.start()

    def experiment_finished(
        self, result: ExperimentResult, duration_s: float, counted: bool, label: str | None = None
    ) -> None:
        label = self.current if label is None else label
        super().experiment_finished(result, duration_s, counted)
        mark = "[green]✓[/]" if result.status == "ok" else "[red]✗[/]"
        self.console.print(
            f"{mark} {escape(f'{label} {result_line(result, duration_s)}')}", highlight=False
        )

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/]", highlight=False)

    def study_finished(self, study: StudyResult) -> None:
        from llem.run.summary import summary_table

        self.live.stop()
        self.console.print(summary_table(study))

    def close(self) -> None:
        self.live.stop()

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        with self._lock:
            grid = Table.grid(padding=(0, 1))
            elapsed = time.monotonic() - self.started
            grid.add_row(
                f"[bold]{escape(self.name)}[/]",
                ProgressBar(total=max(self.total, 1), completed=self.done, width=30),
                f"{self.done}/{self.total}",
                f"elapsed {format_duration(elapsed)}",
                f"ETA {format_duration(self.eta_s())}",
            )
            lines = Table.grid()
            lines.add_row(grid)
            if self.waiting is not None:
                left, reason = self.waiting
                lines.add_row(escape(f"  next experiment in {left:.0f} s ({reason})"))
            if self.current is not None:
                since = time.monotonic() - (self.current_started or time.monotonic())
                phase = PHASE_LABELS.get(self.phase or "", self.phase or "starting worker")
                lines.add_row(escape(f"  ▶ {self.current} · {phase} · {format_duration(since)}"))
            if self.power:
                watts = " · ".join(f"{w:.0f} W" for w in self.power.values())
                total = sum(self.power.values())
                more = f" (total {total:.0f} W)" if len(self.power) > 1 else ""
                lines.add_row(f"    power {watts}{more}")
            return lines


def make_reporter(enabled: bool) -> Reporter:
    """Rich on a terminal, plain lines elsewhere, silence when disabled."""
    if not enabled:
        return Reporter()
    from rich.console import Console

    console = Console()
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter()


class EventPump:
    """Drains the worker's event queue on a daemon thread into ``reporter.event``."""

    def __init__(self, events: Any, reporter: Reporter) -> None:
        self.events = events
        self.reporter = reporter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llem-events", daemon=True)

    def start(self) -> EventPump:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):  # queue closed under us
                return
            try:
                self.reporter.event(event)
            except Exception:  # a display glitch must never stop a study
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def study_notes(study: Any, manifest: Any, results: Mapping[str, Any], dispatch: Any) -> list[str]:
    """Lines after the summary table: which configurations ``cycles: auto`` stopped at
    max_cycles (their interval still wider than the target), and the time the
    temperature cool-down saved over the configured gaps."""
    ex = study.execution
    lines = []
    if ex.cycles == "auto":
        from llem.run import adaptive

        planned = [(e.config_index, e.id) for e in manifest.entries]
        spread = adaptive.spreads(planned, results)
        capped = adaptive.stopped_at_max(spread, ex.target_ci, ex.max_cycles)
        tight = len(spread) - len(capped)
        lines.append(
            f"cycles auto: {tight} of {len(spread)} configuration(s) reached "
            f"±{ex.target_ci:.1%} (95 % CI of {adaptive.PRIMARY_METRIC})"
        )
        for s in capped:
            cfg = study.experiments[s.config_index]
            width = "no interval" if s.half_width is None else f"±{s.half_width:.1%}"
            lines.append(
                f"  stopped at max_cycles={ex.max_cycles}: {cfg.name or _hash(cfg)} ({width})"
            )
    if ex.cooldown == "temperature" and dispatch is not None:
        saved = max(0.0, dispatch.planned_pause_s - dispatch.paused_s)
        lines.append(
            f"cool-down by temperature: waited {format_duration(dispatch.paused_s)} of "
            f"{format_duration(dispatch.planned_pause_s)} configured, saved "
            f"{format_duration(saved)}"
        )
    return lines


def _hash(cfg: Any) -> str:
    from llem.config.identity import config_hash

    return config_hash(cfg)
