"""Energy from sampled power: trapezoids between samples, held flat beyond the ends.

Power between two samples is taken as the straight line between them; before the first
sample and after the last it is held at that sample's value. Used for GPUs without an
energy counter, for idle baselines, and to find which part of a window's energy fell
into prefill, a request or the steady state -- there anchored to the energy counter
(``anchored_j``), which integrates the true power where 100 ms samples only glimpse it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

Point = tuple[int, float]  # (t_ns, watts), sorted by time
Counter = tuple[int, int]  # (t_ns, cumulative mJ), sorted by time


def power_at(points: Sequence[Point], t_ns: int) -> float:
    """Linearly interpolated power at ``t_ns`` (held at the ends)."""
    times = [p[0] for p in points]
    i = bisect_left(times, t_ns)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (t_a, w_a), (t_b, w_b) = points[i - 1], points[i]
    if t_b == t_a:
        return w_b
    return w_a + (w_b - w_a) * (t_ns - t_a) / (t_b - t_a)


def energy_j(points: Sequence[Point], start_ns: int, end_ns: int) -> float:
    """Joules between ``start_ns`` and ``end_ns`` (0 for an empty or reversed span)."""
    if not points or end_ns <= start_ns:
        return 0.0
    times = [p[0] for p in points]
    inner = points[bisect_right(times, start_ns) : bisect_left(times, end_ns)]
    knots = [(start_ns, power_at(points, start_ns)), *inner, (end_ns, power_at(points, end_ns))]
    total = 0.0
    for (t_a, w_a), (t_b, w_b) in zip(knots, knots[1:], strict=False):
        total += (w_a + w_b) / 2.0 * (t_b - t_a) / 1e9
    return total


def mean_power_w(points: Sequence[Point], start_ns: int, end_ns: int) -> float | None:
    """Time-weighted mean power over the span, None for an empty span or no samples."""
    if not points or end_ns <= start_ns:
        return None
    return energy_j(points, start_ns, end_ns) / ((end_ns - start_ns) / 1e9)


def merge_intervals(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of ``intervals`` as sorted, disjoint (start, end) pairs."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def anchored_j(
    points: Sequence[Point], counters: Sequence[Counter], spans: Sequence[tuple[int, int]]
) -> list[float]:
    """Joules of each span: sampled power, scaled in each stretch between two counter reads
    so that the stretch holds exactly the counter's difference (by time where no power was
    sampled). A span is taken to lie in one stretch (cut the spans at the reads); spans
    before the first read or after the last take the nearest stretch's scale. With fewer
    than two reads, plain ``energy_j``."""
    if len(counters) < 2:
        return [energy_j(points, a, b) for a, b in spans]
    reads = [t for t, _ in counters]
    stretches = []
    for (c0, e0), (c1, e1) in zip(counters, counters[1:], strict=False):
        sampled = energy_j(points, c0, c1)
        stretches.append((c1 - c0, (e1 - e0) / 1e3, sampled))
    out = []
    for a, b in spans:
        k = min(max(bisect_right(reads, a) - 1, 0), len(stretches) - 1)
        length, counted, sampled = stretches[k]
        if sampled > 0:
            out.append(counted * energy_j(points, a, b) / sampled)
        else:
            out.append(counted * (b - a) / length if length > 0 else 0.0)
    return out
