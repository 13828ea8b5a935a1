"""Aggregation across cycles on hand-computed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llem.analysis.aggregate import aggregate_columns, aggregate_results
from llem.analysis.bootstrap import IDENTICAL_NOTE, UNDEFINED_NOTE

from tests.fakes.study_results import make_result


def test_summary_matches_hand_computed_values():
    results = [make_result("a", c, energy_per_token=v) for c, v in enumerate([1, 2, 3, 4], 1)]
    (agg,) = aggregate_results(results)
    s = agg.metrics["energy_per_output_token_j"]
    assert (s.n, s.mean, s.median, s.min, s.max) == (4, 2.5, 2.5, 1.0, 4.0)
    assert s.std == pytest.approx(math.sqrt(5 / 3))  # sample std, ddof=1
    assert s.cv == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert 1.0 <= s.ci_low < 2.5 < s.ci_high <= 4.0
    assert s.ci_note is None
    assert agg.cycles_ok == 4 and agg.cycles_failed == 0


def test_failed_cycles_are_counted_but_not_averaged():
    results = [
        make_result("a", 1, energy_per_token=1.0),
        make_result("a", 2, status="failed"),
        make_result("a", 3, energy_per_token=3.0),
    ]
    (agg,) = aggregate_results(results)
    s = agg.metrics["energy_per_output_token_j"]
    assert (agg.cycles_ok, agg.cycles_failed) == (2, 1)
    assert (s.n, s.mean, s.median) == (2, 2.0, 2.0)
    assert s.ci_low is None and s.ci_high is None
    assert "at least 3" in s.ci_note and "execution.cycles" in s.ci_note


def test_single_cycle_has_no_spread_and_no_ci():
    (agg,) = aggregate_results([make_result("a", 1, energy_per_token=2.0)])
    s = agg.metrics["energy_per_output_token_j"]
    assert (s.n, s.mean, s.std, s.cv, s.ci_low) == (1, 2.0, None, None, None)
    assert "1 cycle" in s.ci_note


def test_identical_values_give_degenerate_interval_not_a_crash():
    results = [make_result("a", c, tokens_per_second=50.0) for c in (1, 2, 3)]
    (agg,) = aggregate_results(results)
    s = agg.metrics["tokens_per_second"]
    assert (s.ci_low, s.ci_high, s.std, s.cv) == (50.0, 50.0, 0.0, 0.0)
    assert s.ci_note == IDENTICAL_NOTE


def test_metric_absent_everywhere_summarises_as_none_with_note():
    results = [make_result("a", c, energy_per_token=None) for c in (1, 2, 3)]
    (agg,) = aggregate_results(results)
    s = agg.metrics["energy_per_output_token_j"]
    assert s.n == 0 and s.mean is None and s.ci_low is None
    assert s.ci_note


def test_groups_keep_first_appearance_order_params_and_names():
    results = [
        make_result("zz", 1, energy_per_token=1.0, name="big"),
        make_result("aa", 1, energy_per_token=5.0),
        make_result("zz", 2, energy_per_token=3.0, name="big"),
        make_result("aa", 2, energy_per_token=7.0),
    ]
    aggs = aggregate_results(results, params={"zz": {"pytorch.batch_size": 8}})
    assert [a.config_hash for a in aggs] == ["zz", "aa"]
    assert aggs[0].params == {"pytorch.batch_size": 8} and aggs[1].params == {}
    assert aggs[0].name == "big"
    assert aggs[0].metrics["energy_per_output_token_j"].mean == 2.0
    assert aggs[1].metrics["energy_per_output_token_j"].mean == 6.0


def test_interleaved_rows_and_mixed_cycle_counts():
    rng = np.random.default_rng(3)
    hashes = np.array(["a", "b", "c"] * 4 + ["d"] * 2, dtype=object)
    values = rng.normal(10, 1, len(hashes))
    ok = np.ones(len(hashes), bool)
    aggs = aggregate_columns(hashes, ok, {"tokens_per_second": values})
    for agg in aggs:
        mine = values[hashes == agg.config_hash]
        s = agg.metrics["tokens_per_second"]
        assert s.n == len(mine)
        assert s.mean == pytest.approx(mine.mean())
        assert s.median == pytest.approx(np.median(mine))
        assert s.std == pytest.approx(mine.std(ddof=1))
        assert (s.ci_low is None) == (len(mine) < 3)


def test_empty_input_gives_no_aggregates():
    assert aggregate_results([]) == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcd"),
            st.one_of(st.floats(-1e3, 1e3), st.just(math.nan)),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_statistics_match_numpy_group_by_group(rows):
    hashes = np.array([r[0] for r in rows], dtype=object)
    values = np.array([r[1] for r in rows], dtype=float)
    ok = np.array([r[2] for r in rows], dtype=bool)
    aggs = aggregate_columns(hashes, ok, {"itl_mean_s": values})
    assert [a.config_hash for a in aggs] == list(dict.fromkeys(hashes))
    for agg in aggs:
        mine = hashes == agg.config_hash
        good = values[mine & ok & ~np.isnan(values)]
        s = agg.metrics["itl_mean_s"]
        assert (agg.cycles_ok, agg.cycles_failed) == (
            int((mine & ok).sum()),
            int((mine & ~ok).sum()),
        )
        assert s.n == len(good)
        if len(good) == 0:
            assert s.mean is None and s.ci_low is None
            continue
        assert s.mean == pytest.approx(good.mean(), abs=1e-9)
        assert s.median == pytest.approx(np.median(good), abs=1e-9)
        assert (s.min, s.max) == (good.min(), good.max())
        if len(good) > 1:
            assert s.std == pytest.approx(good.std(ddof=1), abs=1e-9)
        if len(good) >= 3 and s.ci_low is None:
            # BCa degenerates in floating point (0/0 in its acceleration, or every
            # resample mean rounding alike) when the values differ by less than ~1e-108
            # or by an ulp, e.g. (0, 0, 4.9e-239); the library labels that case.
            assert s.ci_note == UNDEFINED_NOTE
            assert np.ptp(good) <= 1e-12 * max(1.0, np.abs(good).max()), good
        elif len(good) >= 3:
            assert good.min() - 1e-9 <= s.ci_low <= s.ci_high <= good.max() + 1e-9
        else:
            assert s.ci_low is None and s.ci_note
