"""Execution orders: every config x cycle exactly once, in the promised pattern."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from llem.run.order import gap_seconds, plan_runs, waits_note


def _pairs(plan):
    return [("ABCDEFGH"[p.config_index], p.cycle) for p in plan]


def test_interleaved_is_cycle_by_cycle():
    plan = plan_runs(3, 2, "interleaved")
    assert _pairs(plan) == [("A", 1), ("B", 1), ("C", 1), ("A", 2), ("B", 2), ("C", 2)]
    assert [p.gap_before for p in plan] == [None, "config", "config", "cycle", "config", "config"]


def test_sequential_keeps_a_configs_cycles_together():
    plan = plan_runs(2, 3, "sequential")
    assert _pairs(plan) == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2), ("B", 3)]
    assert [p.gap_before for p in plan] == [None, "cycle", "cycle", "config", "cycle", "cycle"]


def test_shuffled_is_seeded_and_finishes_each_cycle_before_the_next():
    a = plan_runs(6, 3, "shuffled", seed=1)
    assert a == plan_runs(6, 3, "shuffled", seed=1)
    assert a != plan_runs(6, 3, "shuffled", seed=2)
    assert [p.cycle for p in a] == [1] * 6 + [2] * 6 + [3] * 6
    cycle_orders = {tuple(p.config_index for p in a if p.cycle == k) for k in (1, 2, 3)}
    assert len(cycle_orders) > 1  # each cycle visits the configurations in its own order


@given(
    st.integers(1, 7),
    st.integers(1, 5),
    st.sampled_from(["sequential", "interleaved", "shuffled"]),
    st.integers(0, 99),
)
def test_every_config_and_cycle_runs_exactly_once(n, cycles, order, seed):
    plan = plan_runs(n, cycles, order, seed)
    assert sorted((p.config_index, p.cycle) for p in plan) == [
        (c, k) for c in range(n) for k in range(1, cycles + 1)
    ]
    assert plan[0].gap_before is None
    assert all(p.gap_before in ("config", "cycle") for p in plan[1:])


def test_gap_seconds():
    assert gap_seconds(None, 60, 120) == 0
    assert gap_seconds("config", 60, 120) == 60
    assert gap_seconds("cycle", 60, 120) == 120


def test_waits_note_totals_the_gaps_and_floors_and_names_the_quick_profile():
    gaps = [g.gap_before for g in plan_runs(2, 3, "interleaved")]  # 3 config, 2 cycle gaps
    note = waits_note(gaps, [60.0] * 6, 60.0, 120.0)
    assert note is not None
    # 3 x 60 + 2 x 120 + 6 x 60 = 780 s
    assert note.startswith("waits 13.0 min") and "--profile quick" in note
    assert "3 x config_gap_s 60 s" in note and "2 x cycle_gap_s 120 s" in note
    assert "6 x warmup.thermal_floor_s" in note


def test_nothing_to_wait_says_nothing():
    gaps = [g.gap_before for g in plan_runs(2, 1, "interleaved")]
    assert waits_note(gaps, [0.0, 0.0], 0.0, 0.0) is None
    assert waits_note([None], [5.0], 60.0, 120.0) == (
        "waits 5 s in gaps and thermal floors (1 x warmup.thermal_floor_s), on purpose: the "
        "GPU cools between runs; for development, --profile quick waits none "
        "(or set execution.config_gap_s / cycle_gap_s, warmup.thermal_floor_s)"
    )
