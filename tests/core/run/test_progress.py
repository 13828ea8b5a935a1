"""Progress arithmetic and the plain (non-terminal) output."""

from __future__ import annotations

import io
import multiprocessing
import time

from llem.run.progress import (
    EventPump,
    PlainReporter,
    Reporter,
    estimate_remaining,
    format_duration,
)

from tests.fakes.study_results import make_result


def test_eta_from_measured_durations_plus_remaining_gaps():
    assert estimate_remaining([], 3, 0) is None
    assert estimate_remaining([10.0, 20.0], 0, 50) == 0.0
    assert estimate_remaining([10.0, 20.0], 4, 30.0) == 15.0 * 4 + 30.0


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(None) == "?"


def test_plain_reporter_prints_lines_not_redraws():
    out = io.StringIO()
    r = PlainReporter(out)
    r.study_started("s", "/tmp/run", 2, 0, "2 configurations")
    r.experiment_started("abc-c1", 1, 1, 0)
    r.event(("phase", "abc-c1", "load"))
    r.event(("power", "abc-c1", {"GPU-1": 100.0}))
    r.experiment_finished(make_result("abc"), 12.0, counted=True)
    r.wait_tick(5, "config_gap_s")
    r.wait_tick(4.5, "config_gap_s")
    r.experiment_started("def-c1", 2, 2, 0)
    r.experiment_finished(make_result("def", status="failed"), 1.0, counted=True)
    text = out.getvalue()
    assert "loading model" in text
    assert "[1/2] abc-c1 ok in 12.0 s, 100.0 tok/s, 0.5 J/token (1/2 done" in text
    assert text.count("waiting") == 1  # the countdown is one line, not one per tick
    assert "[2/2] def-c1 (attempt 2) failed after 1.0 s (crash: worker died)" in text
    assert "\r" not in text and "\x1b" not in text


def test_event_pump_drains_the_worker_queue_on_a_thread():
    q = multiprocessing.get_context("spawn").Queue()
    reporter = Reporter()
    pump = EventPump(q, reporter).start()
    q.put(("phase", "x", "measuring"))
    q.put(("power", "x", {"GPU-a": 250.0, "GPU-b": 240.0}))
    deadline = time.monotonic() + 5
    while not reporter.power and time.monotonic() < deadline:
        time.sleep(0.02)
    pump.stop()
    assert reporter.phase == "measuring"
    assert reporter.power == {"GPU-a": 250.0, "GPU-b": 240.0}


def test_rich_display_on_a_terminal_shows_bar_phase_power_and_summary():
    from llem.results.schema import StudyResult
    from llem.run.progress import RichReporter
    from rich.console import Console

    out = io.StringIO()
    r = RichReporter(Console(file=out, force_terminal=True, width=120, color_system=None))
    r.study_started("sweep", "/tmp/run", 2, 0, "2 configurations x 1 cycle")
    r.experiment_started("abc-c1 pytorch.batch_size=8", 1, 1, 0)
    r.event(("phase", "abc-c1", "measuring"))
    r.event(("power", "abc-c1", {"GPU-a": 250.0, "GPU-b": 240.0}))
    r.console.print(r._render())
    r.wait_tick(42, "config_gap_s")
    r.console.print(r._render())
    result = make_result("abc")
    r.experiment_finished(result, 3.0, counted=True)
    r.study_finished(
        StudyResult(
            name="sweep",
            run_dir="/tmp/run",
            status="complete",
            started_at="",
            ended_at="",
            experiments=(result,),
        )
    )
    r.close()
    text = out.getvalue()
    for expected in (
        "measuring",
        "250 W",
        "total 490 W",
        "1/2",
        "next experiment in 42 s",
        "batch_size=8 ok in 3.0 s",
        "configuration",
    ):
        assert expected in text, expected
