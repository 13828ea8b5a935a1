from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llem.telemetry.integrate import (
    anchored_j,
    energy_j,
    mean_power_w,
    merge_intervals,
    power_at,
)

S = 1_000_000_000


def test_trapezoids_between_samples_and_held_at_the_ends():
    points = [(1 * S, 100.0), (2 * S, 300.0)]
    assert energy_j(points, 1 * S, 2 * S) == pytest.approx(200.0)
    assert energy_j(points, 0, 3 * S) == pytest.approx(100.0 + 200.0 + 300.0)
    assert power_at(points, int(1.5 * S)) == pytest.approx(200.0)
    assert energy_j(points, 2 * S, 1 * S) == 0.0
    assert mean_power_w(points, 1 * S, 2 * S) == pytest.approx(200.0)
    assert mean_power_w([], 0, S) is None


@given(
    st.floats(1, 1000),
    st.lists(st.integers(0, 10 * S), min_size=1, max_size=30),
    st.integers(0, 5 * S),
    st.integers(1, 5 * S),
)
def test_constant_power_integrates_to_power_times_time(watts, times, start, length):
    points = [(t, watts) for t in sorted(set(times))]
    assert energy_j(points, start, start + length) == pytest.approx(watts * length / S)


def test_merge_intervals_gives_the_union():
    assert merge_intervals([(5, 7), (1, 3), (2, 4), (8, 8)]) == [(1, 4), (5, 7)]


def test_counter_reads_rescale_each_stretch_to_the_counter_and_keep_the_shape_inside():
    points = [(t * S // 10, 100.0 if t < 20 else 300.0) for t in range(41)]  # 0-4 s
    # the counter says the first 2 s took 240 J (not the sampled 200) and 2-4 s 560 J
    counters = [(0, 1_000_000), (2 * S, 1_240_000), (4 * S, 1_800_000)]
    spans = [(0, S), (S, 2 * S), (2 * S, 3 * S), (3 * S, 4 * S)]
    got = anchored_j(points, counters, spans)
    sampled = [energy_j(points, a, b) for a, b in spans]
    assert sum(got[:2]) == pytest.approx(240.0) and sum(got[2:]) == pytest.approx(560.0)
    assert got[0] / got[1] == pytest.approx(sampled[0] / sampled[1])  # shape kept inside
    assert anchored_j(points, counters[:1], spans) == sampled  # one read: no anchor


def test_without_power_samples_a_stretch_is_shared_by_time():
    counters = [(0, 0), (2 * S, 100_000)]
    assert anchored_j([], counters, [(0, S // 2), (S // 2, 2 * S)]) == pytest.approx([25.0, 75.0])
