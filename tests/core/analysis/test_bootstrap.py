"""The vectorised BCa interval equals scipy's own call, row by row."""

from __future__ import annotations

import numpy as np
import pytest
from llem.analysis.bootstrap import (
    IDENTICAL_NOTE,
    N_RESAMPLES,
    mean_intervals,
)
from scipy import stats


def _scipy_reference(rows: np.ndarray, seed: int = 0):
    return stats.bootstrap(
        (rows,),
        np.mean,
        axis=-1,
        vectorized=True,
        method="BCa",
        confidence_level=0.95,
        n_resamples=N_RESAMPLES,
        rng=np.random.default_rng(seed),
    ).confidence_interval


def test_matches_plain_scipy_bca_on_continuous_data():
    rows = np.random.default_rng(7).lognormal(0, 0.3, (5, 30))
    mine = mean_intervals(rows)
    ref = _scipy_reference(rows)
    np.testing.assert_allclose(mine.low, ref.low, rtol=1e-9)
    np.testing.assert_allclose(mine.high, ref.high, rtol=1e-9)
    assert mine.notes == (None,) * 5


def test_interval_of_a_row_does_not_depend_on_its_neighbours():
    rows = np.random.default_rng(1).normal(5, 1, (300, 4))  # > one chunk of rows
    alone = mean_intervals(rows[250:251])
    together = mean_intervals(rows)
    assert alone.low[0] == pytest.approx(together.low[250])
    assert alone.high[0] == pytest.approx(together.high[250])


def test_degenerate_and_regular_rows_together():
    rows = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    iv = mean_intervals(rows)
    assert (iv.low[0], iv.high[0], iv.notes[0]) == (2.0, 2.0, IDENTICAL_NOTE)
    assert iv.low[1] < 7 / 3 < iv.high[1] and iv.notes[1] is None


def test_fewer_than_three_values_give_no_interval():
    iv = mean_intervals(np.array([[1.0, 2.0]]))
    assert np.isnan(iv.low[0]) and "at least 3" in iv.notes[0]


def test_deterministic_for_a_seed():
    rows = np.random.default_rng(2).normal(0, 1, (3, 5))
    a, b = mean_intervals(rows, seed=4), mean_intervals(rows, seed=4)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)


def test_the_interval_never_leaves_the_range_of_the_values():
    # tokens/s of three real cycles: the bootstrap's top resample mean (max, max, max)
    # came out one ulp above max before clipping
    row = np.array([[172.11206655539192, 177.56032950669368, 225.28763123101322]])
    iv = mean_intervals(row)
    assert row.min() <= iv.low[0] <= iv.high[0] <= row.max()
