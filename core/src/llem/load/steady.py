"""The steady-state window of a serving run, and whether the engine kept up.

The in-flight count at time t is the number of requests sent and not yet ended. The
steady state is the part of the run in which that count holds its level:

    from the moment the in-flight count first reaches the level L until the first
    moment after the last request was sent at which it falls below L (the drain).

Closed loop (``concurrency`` N): L = N -- ML.ENERGY's rule. Open loop (poisson, gamma,
constant, trace): L = the time-weighted median of the in-flight count between the first
and the last send (at least 1), so the ramp-up before the queue fills and the drain
after the last arrival are left out in the same way. No window (None, with the reason)
when the count never reaches L or the window would be empty.

Overloaded (open loop): the mean in-flight count over the last quarter of the sending
span is more than twice that over its second quarter and at least OVERLOAD_MIN_GROWTH
requests higher: the queue grew through the run, so the engine did not keep up with
the offered rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from llem.interfaces import RequestRecord

OVERLOAD_MIN_GROWTH = 2.0
RULE = (
    "steady state: from when the in-flight count first reaches level L until it first falls "
    "below L after the last send; L = the concurrency (closed loop) or the time-weighted "
    "median in-flight count between the first and last send (open loop, at least 1)"
)


@attrs.frozen
class SteadyWindow:
    t0_ns: int
    t1_ns: int
    level: int


@attrs.frozen
class Curve:
    """The in-flight count as a step function: ``counts[i]`` holds from ``times[i]``."""

    times: tuple[int, ...]
    counts: tuple[int, ...]

    def mean_between(self, a: int, b: int) -> float:
        """Time-weighted mean count over [a, b] (0 for an empty span)."""
        if b <= a:
            return 0.0
        total = 0.0
        for i, (t, n) in enumerate(zip(self.times, self.counts, strict=True)):
            end = self.times[i + 1] if i + 1 < len(self.times) else b
            lo, hi = max(t, a), min(end, b)
            if hi > lo:
                total += n * (hi - lo)
        return total / (b - a)

    def median_between(self, a: int, b: int) -> int:
        """Time-weighted median count over [a, b]."""
        weights: dict[int, int] = {}
        for i, (t, n) in enumerate(zip(self.times, self.counts, strict=True)):
            end = self.times[i + 1] if i + 1 < len(self.times) else b
            lo, hi = max(t, a), min(end, b)
            if hi > lo:
                weights[n] = weights.get(n, 0) + hi - lo
        half, seen = sum(weights.values()) / 2.0, 0
        for n in sorted(weights):
            seen += weights[n]
            if seen >= half:
                return n
        return 0


def in_flight(records: Sequence[RequestRecord]) -> Curve:
    """The in-flight count of ``records`` (ends before sends at the same instant)."""
    events = sorted(
        [(r.t_submit_ns, 1) for r in records] + [(r.t_end_ns, -1) for r in records],
        key=lambda e: (e[0], e[1]),
    )
    times: list[int] = []
    counts: list[int] = []
    n = 0
    for t, delta in events:
        n += delta
        if times and times[-1] == t:
            counts[-1] = n
        else:
            times.append(t)
            counts.append(n)
    return Curve(tuple(times), tuple(counts))


def steady_window(
    records: Sequence[RequestRecord], concurrency: int | None
) -> tuple[SteadyWindow | None, str | None]:
    """The steady-state window (see the module docstring), or None and why not."""
    if not records:
        return None, "no requests were sent"
    curve = in_flight(records)
    first_send = min(r.t_submit_ns for r in records)
    last_send = max(r.t_submit_ns for r in records)
    if concurrency is not None:
        level = concurrency
    else:
        level = max(1, curve.median_between(first_send, last_send))
    start = next((t for t, n in zip(curve.times, curve.counts, strict=True) if n >= level), None)
    if start is None:
        return None, f"the in-flight count never reached its level ({level})"
    end = next(
        (
            t
            for t, n in zip(curve.times, curve.counts, strict=True)
            if t >= max(last_send, start) and n < level
        ),
        None,
    )
    if end is None or end <= start:
        return None, f"the in-flight count held its level ({level}) for no time"
    return SteadyWindow(start, end, level), None


def overloaded(records: Sequence[RequestRecord]) -> tuple[bool, float, float]:
    """Whether the queue grew through the sending span (open loop), with the mean
    in-flight counts of its second and last quarters."""
    if len(records) < 8:
        return False, 0.0, 0.0
    curve = in_flight(records)
    a = min(r.t_submit_ns for r in records)
    b = max(r.t_submit_ns for r in records)
    quarter = (b - a) // 4
    early = curve.mean_between(a + quarter, a + 2 * quarter)
    late = curve.mean_between(b - quarter, b)
    grew = late > 2.0 * early and late - early >= OVERLOAD_MIN_GROWTH
    return grew, early, late
