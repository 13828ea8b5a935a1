"""Steady-state windows on synthetic in-flight curves, and the overload test."""

from __future__ import annotations

from llem import RequestRecord
from llem.load.steady import in_flight, overloaded, steady_window

MS = 1_000_000


def rec(rid: int, submit_ms: float, end_ms: float) -> RequestRecord:
    return RequestRecord(rid, 1, 1, int(submit_ms * MS), None, int(end_ms * MS))


def closed_loop(n: int, lanes: int, service_ms: float, stagger_ms: float) -> list[RequestRecord]:
    """``lanes`` lanes, lane k starting at k * stagger, each sending ``n`` requests back to back."""
    out = []
    for lane in range(lanes):
        t = lane * stagger_ms
        for _ in range(n):
            out.append(rec(len(out), t, t + service_ms))
            t += service_ms
    return out


def test_closed_loop_steady_state_runs_from_full_concurrency_to_the_first_drop_in_the_drain():
    records = closed_loop(n=10, lanes=4, service_ms=100, stagger_ms=10)
    window, reason = steady_window(records, concurrency=4)
    assert reason is None
    assert window.t0_ns == 30 * MS  # the 4th lane's first send
    assert window.t1_ns == 1000 * MS  # lane 0 ends its last request: 3 left
    assert window.level == 4


def test_open_loop_level_is_the_median_in_flight_and_ramp_and_drain_are_cut():
    # every 10 ms a request of 50 ms: 5 in flight once the ramp is over
    records = [rec(i, 10 * i, 10 * i + 50) for i in range(100)]
    window, reason = steady_window(records, concurrency=None)
    assert window.level == 5
    assert window.t0_ns == 40 * MS  # 5th request sent: 5 in flight
    assert window.t1_ns == 1000 * MS  # after the last send (990 ms), the first end


def test_a_level_never_reached_gives_no_window_and_says_why():
    records = closed_loop(n=3, lanes=2, service_ms=10, stagger_ms=0)
    window, reason = steady_window(records, concurrency=8)
    assert window is None and "never reached its level (8)" in reason
    assert steady_window([], None) == (None, "no requests were sent")


def test_in_flight_counts_ends_before_sends_at_the_same_instant():
    curve = in_flight([rec(0, 0, 10), rec(1, 10, 20)])
    assert curve.counts == (1, 1, 0)
    assert curve.mean_between(0, 20 * MS) == 1.0


def test_a_growing_queue_is_overloaded_and_a_steady_one_is_not():
    growing = [rec(i, 10 * i, 10 * i + 5 * (i + 1)) for i in range(100)]  # service grows
    assert overloaded(growing)[0]
    steady = [rec(i, 10 * i, 10 * i + 50) for i in range(100)]
    grew, early, late = overloaded(steady)
    assert not grew and early == late == 5.0
