"""Bootstrap confidence intervals of a configuration's mean across its cycles.

``scipy.stats.bootstrap`` (BCa, 95 %, 9999 resamples) over the per-cycle values.
A study may hold thousands of configurations, so the intervals of many rows with the
same number of cycles are computed in one call. Plain vectorised scipy materialises
every resample of every row (rows x 9999 x n values, seconds for a large study);
here scipy resamples the observation *indices* instead and the statistic turns each
index resample into counts, so all rows' resample means are n vector operations.
It is the same estimator as ``bootstrap((rows,), np.mean, axis=-1)`` with the same
resample indices shared by all rows (which is what scipy itself does for a batch);
the only difference is that equal resamples are summed in one fixed order, so ties
are exact instead of rounding-dependent. A row's interval depends only on its own
values (each chunk starts from the same seed), never on the rest of the study.

Fewer than 3 cycles give no interval (with a note saying why); identical values give
the degenerate interval (v, v) with a note instead of scipy's NaN.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import attrs
import numpy as np
from scipy import stats

MIN_CYCLES_FOR_CI = 3
CONFIDENCE_LEVEL = 0.95
N_RESAMPLES = 9999
METHOD = "BCa"
_CHUNK_ROWS = 256


@attrs.frozen
class Intervals:
    """Per row: low, high (NaN where there is none) and a note (None when regular)."""

    low: np.ndarray
    high: np.ndarray
    notes: tuple[str | None, ...]


def too_few_note(n: int) -> str:
    return (
        f"no confidence interval from {n} cycle{'s' if n != 1 else ''}: a bootstrap CI "
        f"needs at least {MIN_CYCLES_FOR_CI}; set execution.cycles >= {MIN_CYCLES_FOR_CI}"
    )


IDENTICAL_NOTE = "all cycles gave the same value; the interval is degenerate (v, v)"
UNDEFINED_NOTE = "the BCa interval is undefined for these values"


def mean_intervals(rows: np.ndarray, *, seed: int = 0) -> Intervals:
    """BCa intervals of the mean of each row of ``rows`` (k x n, no NaN)."""
    rows = np.asarray(rows, dtype=np.float64)
    k, n = rows.shape
    low = np.full(k, np.nan)
    high = np.full(k, np.nan)
    if n < MIN_CYCLES_FOR_CI:
        return Intervals(low, high, (too_few_note(n),) * k)
    notes: list[str | None] = [None] * k
    identical = np.ptp(rows, axis=1) == 0
    low[identical] = high[identical] = rows[identical, 0]
    varying = np.flatnonzero(~identical)
    chunks = [varying[s : s + _CHUNK_ROWS] for s in range(0, len(varying), _CHUNK_ROWS)]
    cache: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate rows become NaN; we label them
        # numpy releases the GIL in the sorts and reductions that dominate: chunks
        # run on all cores. Each chunk is independent (same seed, its own rows).
        with ThreadPoolExecutor(max_workers=_workers(len(chunks))) as pool:
            done = pool.map(lambda idx: _bca_rows(rows[idx], seed, cache), chunks)
            for idx, (lo, hi) in zip(chunks, done, strict=True):
                low[idx], high[idx] = lo, hi
    # a resample's mean lies within the values' range; the computed one can pass its
    # end by an ulp (three equal values summed and divided by three), so clip to it
    lowest, highest = rows.min(axis=1), rows.max(axis=1)
    np.clip(low, lowest, highest, out=low)
    np.clip(high, lowest, highest, out=high)
    for i in range(k):
        if identical[i]:
            notes[i] = IDENTICAL_NOTE
        elif not (np.isfinite(low[i]) and np.isfinite(high[i])):
            low[i] = high[i] = np.nan
            notes[i] = UNDEFINED_NOTE
    return Intervals(low, high, tuple(notes))


def _workers(chunks: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(chunks, cpus or 1, 8))


def _bca_rows(rows: np.ndarray, seed: int, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    try:
        ci = _indexed_bootstrap(rows, seed, cache)
        low, high = np.asarray(ci.low, float), np.asarray(ci.high, float)
        if low.shape == (len(rows),) and high.shape == (len(rows),):
            return low, high
    except (ValueError, TypeError, IndexError):
        pass  # a scipy that rejects the index form: use the plain (slower) call
    ci = stats.bootstrap(
        (rows,),
        np.mean,
        axis=-1,
        vectorized=True,
        method=METHOD,
        confidence_level=CONFIDENCE_LEVEL,
        n_resamples=N_RESAMPLES,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return np.asarray(ci.low, float), np.asarray(ci.high, float)


def _indexed_bootstrap(rows: np.ndarray, seed: int, cache: dict):  # -> ConfidenceInterval
    k, n = rows.shape
    observations = np.arange(n)

    def mean_of_resample(index: np.ndarray, axis: int = -1) -> np.ndarray:
        # index: (..., m) observation indices of resamples (or jackknife leave-one-outs)
        m = index.shape[-1]
        distinct, inverse = _distinct_counts(index, observations, cache)
        # Many resamples are the same multiset (n=5: 126 distinct among 9999): average
        # each distinct one once. Summed column by column in a fixed order (not a BLAS
        # product, whose order depends on the shapes), equal resamples give
        # bit-identical means, so the ties with the observed mean that BCa's bias
        # correction counts are exact.
        sums = np.zeros((k, len(distinct)))
        for j in range(n):
            sums += rows[:, j, None] * distinct[None, :, j]
        means = np.take(sums / m, inverse, axis=1)  # C order: scipy sorts the last axis
        return means.reshape((k,) + index.shape[:-1])

    return stats.bootstrap(
        (observations,),
        mean_of_resample,
        axis=-1,
        vectorized=True,
        method=METHOD,
        confidence_level=CONFIDENCE_LEVEL,
        n_resamples=N_RESAMPLES,
        rng=np.random.default_rng(seed),
    ).confidence_interval


def _distinct_counts(
    index: np.ndarray, observations: np.ndarray, cache: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct count vectors of the index resamples and, per resample, which one.
    Every chunk draws the same indices (same seed), so this is computed once."""
    key = (index.shape, index.tobytes())
    if key not in cache:
        counts = (index[..., :, None] == observations).sum(axis=-2, dtype=np.float64)
        cache[key] = _distinct_rows(counts.reshape(-1, len(observations)))
    return cache[key]


def _distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct count vectors and, per row, the index of its vector."""
    n = counts.shape[1]
    if (n + 1) ** n >= 2**62:  # too many cycles to key a count vector as one integer
        return counts, np.arange(len(counts))
    key = counts.astype(np.int64) @ ((n + 1) ** np.arange(n, dtype=np.int64))
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return counts[first], inverse.reshape(-1)
