"""The Pareto frontier is exactly the set of non-dominated points."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llem.analysis.aggregate import aggregate_results
from llem.analysis.pareto import aggregates_front, pareto_front, pareto_indices

from tests.fakes.study_results import make_result


def _dominates(a, b, maximise_y):
    ax, ay = a
    bx, by = b
    if maximise_y:
        ay, by = -ay, -by
    return ax <= bx and ay <= by and (ax < bx or ay < by)


def _brute_force(points, maximise_y):
    ok = [i for i, p in enumerate(points) if not any(math.isnan(v) for v in p)]
    return {
        i for i in ok if not any(_dominates(points[j], points[i], maximise_y) for j in ok if j != i)
    }


coord = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 3.0]),  # small pool: plenty of ties and duplicates
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.just(math.nan),
)


@given(st.lists(st.tuples(coord, coord), max_size=40), st.booleans())
def test_front_is_exactly_the_non_dominated_points(points, maximise_y):
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    front = pareto_indices(xs, ys, maximise_y=maximise_y)
    assert len(front) == len(set(front))
    assert set(front) == _brute_force(points, maximise_y)
    assert [xs[i] for i in front] == sorted(xs[i] for i in front)


def test_hand_computed_front_minimising_latency():
    #        energy, itl
    pts = [
        (1.0, 9.0),  # 0 front: least energy
        (2.0, 5.0),  # 1 front
        (3.0, 5.0),  # 2 dominated by 1 (same itl, more energy)
        (4.0, 1.0),  # 3 front: lowest itl
        (5.0, 2.0),  # 4 dominated by 3
        (2.0, 5.0),
    ]  # 5 duplicate of 1: neither beats the other
    front = pareto_indices([p[0] for p in pts], [p[1] for p in pts])
    assert front == [0, 1, 5, 3]  # by increasing energy


def test_throughput_is_maximised():
    xs, tps = [1.0, 2.0, 3.0], [10.0, 5.0, 20.0]
    assert pareto_indices(xs, tps, maximise_y=True) == [0, 2]
    assert pareto_indices(xs, tps, maximise_y=False) == [0, 1]


def test_front_from_results_uses_means_across_cycles_and_skips_missing():
    results = [
        # config a: mean energy 1.0, itl 0.02
        make_result("a", 1, energy_per_token=0.5, itl=0.01),
        make_result("a", 2, energy_per_token=1.5, itl=0.03),
        # config b: mean energy 2.0, itl 0.01 -> on the front (faster)
        make_result("b", 1, energy_per_token=2.0, itl=0.01),
        # config c: worse than a on both
        make_result("c", 1, energy_per_token=3.0, itl=0.05),
        # config d: no energy (CPU) -> not comparable
        make_result("d", 1, energy_per_token=None, itl=0.001),
        # config e: failed
        make_result("e", 1, status="failed"),
    ]
    assert pareto_front(results) == ("a", "b")
    assert pareto_front(results, metric="tokens_per_second") == ("a",)
    assert aggregates_front(aggregate_results(results)) == ("a", "b")


def test_unknown_metric_names_the_choices():
    with pytest.raises(ValueError, match="itl_mean_s"):
        pareto_front([], metric="speed")


def test_study_result_pareto_returns_the_aggregates_on_the_front():
    from llem.results.schema import StudyResult

    results = [
        make_result("a", 1, energy_per_token=1.0, itl=0.03, tokens_per_second=50),
        make_result("b", 1, energy_per_token=2.0, itl=0.01, tokens_per_second=40),
        make_result("c", 1, energy_per_token=3.0, itl=0.02, tokens_per_second=90),
    ]
    study = StudyResult(
        name="s",
        run_dir="/r",
        status="complete",
        started_at="",
        ended_at="",
        experiments=tuple(results),
        aggregates=aggregate_results(results),
    )
    assert [a.config_hash for a in study.pareto()] == ["a", "b"]
    assert [a.config_hash for a in study.pareto("tokens_per_second")] == ["a", "c"]
    bare = StudyResult(
        name="s",
        run_dir="/r",
        status="complete",
        started_at="",
        ended_at="",
        experiments=tuple(results),
    )  # no aggregates stored
    assert [a.config_hash for a in bare.pareto()] == ["a", "b"]
