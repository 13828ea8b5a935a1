"""Per-configuration statistics across cycles: mean, median, std, min, max, CV, CI.

Works on columns (one entry per experiment x cycle) so a 10,000-row study aggregates
in well under a second: rows are grouped by config hash into a padded matrix
(configurations x cycles, NaN where a cycle failed or lacks the figure) and every
statistic is one numpy reduction over it. Only successful cycles count; a metric a
configuration never produced (no GPU: no energy) summarises as n=0 with None values.
std is the sample standard deviation (ddof=1); CV is std / mean.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from llem.analysis.bootstrap import MIN_CYCLES_FOR_CI, mean_intervals, too_few_note
from llem.analysis.metrics import AGGREGATED_METRICS, read_metric
from llem.results.schema import ConfigAggregate, ExperimentResult, MetricSummary


def aggregate_results(
    experiments: Sequence[ExperimentResult],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    metrics: Sequence[str] = AGGREGATED_METRICS,
    *,
    seed: int = 0,
) -> tuple[ConfigAggregate, ...]:
    """One ConfigAggregate per config hash, in order of first appearance.

    ``params`` maps config hash -> the parameters that vary across the study.
    """
    hashes = [r.config_hash for r in experiments]
    ok = np.array([r.status == "ok" for r in experiments], dtype=bool)
    values = {m: np.array([read_metric(r, m) for r in experiments], dtype=float) for m in metrics}
    names: dict[str, str | None] = {}
    for r in experiments:
        if names.get(r.config_hash) is None:
            names[r.config_hash] = r.name
    return aggregate_columns(hashes, ok, values, names=names, params=params or {}, seed=seed)


def aggregate_columns(
    config_hash: Sequence[str] | np.ndarray,
    ok: np.ndarray,
    values: Mapping[str, np.ndarray],
    *,
    names: Mapping[str, str | None] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> tuple[ConfigAggregate, ...]:
    """Aggregate column data: ``values[metric][i]`` belongs to ``config_hash[i]``.

    Rows with ``ok[i]`` False (failed cycles) count as failures, not as values.
    """
    names, params = names or {}, params or {}
    hashes = np.asarray(config_hash, dtype=object)
    ok = np.asarray(ok, dtype=bool)
    if len(hashes) == 0:
        return ()
    uniq, first, group = np.unique(hashes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    group = rank[group.reshape(-1)]
    uniq = uniq[order]
    n_groups = len(uniq)
    cycles_ok = np.bincount(group, weights=ok, minlength=n_groups).astype(int)
    cycles_all = np.bincount(group, minlength=n_groups)

    slot = _slots(group)
    width = int(slot.max()) + 1
    summaries = {}
    for metric, column in values.items():
        matrix = np.full((n_groups, width), np.nan)
        matrix[group, slot] = np.where(ok, np.asarray(column, dtype=float), np.nan)
        summaries[metric] = _summarise(matrix, seed)

    return tuple(
        ConfigAggregate(
            config_hash=str(h),
            name=names.get(h),
            params=dict(params.get(h, {})),
            cycles_ok=int(cycles_ok[g]),
            cycles_failed=int(cycles_all[g] - cycles_ok[g]),
            metrics={m: summaries[m][g] for m in values},
        )
        for g, h in enumerate(uniq)
    )


def _slots(group: np.ndarray) -> np.ndarray:
    """Position of each row within its group (0, 1, 2 ... in row order)."""
    order = np.argsort(group, kind="stable")
    sorted_groups = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    slot = np.empty_like(group)
    slot[order] = np.arange(len(group)) - run_start
    return slot


def _summarise(matrix: np.ndarray, seed: int) -> list[MetricSummary]:
    """One MetricSummary per row of ``matrix`` (configurations x cycles, NaN = none)."""
    n = np.sum(~np.isnan(matrix), axis=1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled via n
        mean = np.nanmean(matrix, axis=1)
        median = np.nanmedian(matrix, axis=1)
        std = np.nanstd(matrix, axis=1, ddof=1)
        low_v = np.nanmin(matrix, axis=1)
        high_v = np.nanmax(matrix, axis=1)
        cv = np.where(mean != 0, std / np.abs(mean), np.nan)
    ci_low, ci_high, notes = _intervals(matrix, n, seed)
    out = []
    for i in range(len(matrix)):
        k = int(n[i])
        if k == 0:
            out.append(
                MetricSummary(
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "no successful cycle reported this metric",
                )
            )
            continue
        out.append(
            MetricSummary(
                n=k,
                mean=_f(mean[i]),
                median=_f(median[i]),
                std=_f(std[i]) if k > 1 else None,
                min=_f(low_v[i]),
                max=_f(high_v[i]),
                cv=_f(cv[i]) if k > 1 else None,
                ci_low=_f(ci_low[i]),
                ci_high=_f(ci_high[i]),
                ci_note=notes[i],
            )
        )
    return out


def _intervals(
    matrix: np.ndarray, n: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    rows = len(matrix)
    low, high = np.full(rows, np.nan), np.full(rows, np.nan)
    notes: list[str | None] = [None] * rows
    # valid values first, keeping cycle order; NaN padding after them
    packed = np.take_along_axis(matrix, np.argsort(np.isnan(matrix), axis=1, kind="stable"), axis=1)
    for k in np.unique(n):
        members = np.flatnonzero(n == k)
        if k == 0:
            continue
        if k < MIN_CYCLES_FOR_CI:
            for i in members:
                notes[i] = too_few_note(int(k))
            continue
        iv = mean_intervals(packed[members, :k], seed=seed)
        low[members], high[members] = iv.low, iv.high
        for i, note in zip(members, iv.notes, strict=True):
            notes[i] = note
    return low, high, notes


def _f(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
