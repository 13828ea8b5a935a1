"""The Pareto frontier: configurations no other beats on both energy and a second metric.

Energy per output token is always minimised; the second metric is minimised when it is
a latency and maximised when it is a throughput (``Metric.maximise``). A point is on the
front exactly when no other point is at least as good on both axes and strictly better
on one; identical points are all on it (neither beats the other). Points missing
either figure (failed, or no GPU energy) take no part. O(n log n).

Configurations are compared by their mean over successful cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from llem.analysis.metrics import DEFAULT_PARETO_METRIC, ENERGY_METRIC, get_metric, read_metric

if TYPE_CHECKING:
    from llem.results.schema import ConfigAggregate, ExperimentResult, StudyResult


def pareto_indices(
    x: Sequence[float], y: Sequence[float], *, maximise_y: bool = False
) -> list[int]:
    """Indices of the non-dominated points, x minimised, y minimised (or maximised).

    NaN in either coordinate excludes the point. Returned in order of increasing x.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.shape} vs {ys.shape}")
    if maximise_y:
        ys = -ys
    candidates = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    order = candidates[np.lexsort((ys[candidates], xs[candidates]))]
    front: list[int] = []
    best_y = np.inf  # lowest y among points with a strictly smaller x
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        group_min = ys[order[i]]  # sorted by y within equal x
        if group_min < best_y:
            k = i
            while k <= j and ys[order[k]] == group_min:
                front.append(int(order[k]))
                k += 1
            best_y = group_min
        i = j + 1
    return front


def config_means(experiments: Sequence[ExperimentResult], metric: str) -> dict[str, float]:
    """Mean of ``metric`` over each configuration's successful cycles (NaN if none)."""
    sums: dict[str, list[float]] = {}
    for r in experiments:
        acc = sums.setdefault(r.config_hash, [0.0, 0])
        if r.status != "ok":
            continue
        value = read_metric(r, metric)
        if not np.isnan(value):
            acc[0] += value
            acc[1] += 1
    return {h: (s / k if k else np.nan) for h, (s, k) in sums.items()}


def pareto_front(
    experiments: Sequence[ExperimentResult],
    metric: str = DEFAULT_PARETO_METRIC,
    energy: str = ENERGY_METRIC,
) -> tuple[str, ...]:
    """Config hashes on the (energy, metric) frontier, in order of increasing energy."""
    second = get_metric(metric)
    get_metric(energy)
    e = config_means(experiments, energy)
    m = config_means(experiments, metric)
    hashes = list(e)
    idx = pareto_indices([e[h] for h in hashes], [m[h] for h in hashes], maximise_y=second.maximise)
    return tuple(hashes[i] for i in idx)


def aggregates_front(
    aggregates: Sequence[ConfigAggregate],
    metric: str = DEFAULT_PARETO_METRIC,
    energy: str = ENERGY_METRIC,
) -> tuple[str, ...]:
    """Config hashes on the frontier of already-aggregated means (both metrics must
    have been aggregated), in order of increasing energy."""
    second = get_metric(metric)

    def mean(a: ConfigAggregate, name: str) -> float:
        summary = a.metrics.get(name)
        if summary is None:
            raise ValueError(
                f"metric {name!r} was not aggregated; aggregated: {', '.join(a.metrics)}"
            )
        return np.nan if summary.mean is None else summary.mean

    idx = pareto_indices(
        [mean(a, energy) for a in aggregates],
        [mean(a, metric) for a in aggregates],
        maximise_y=second.maximise,
    )
    return tuple(aggregates[i].config_hash for i in idx)


def study_pareto(
    study: StudyResult,
    metric: str = DEFAULT_PARETO_METRIC,
    energy: str = ENERGY_METRIC,
) -> tuple[ConfigAggregate, ...]:
    """The aggregates of the configurations on the study's frontier (by increasing energy)."""
    from llem.analysis.aggregate import aggregate_results

    front = pareto_front(study.experiments, metric, energy)
    aggregates = study.aggregates or aggregate_results(study.experiments)
    by_hash = {a.config_hash: a for a in aggregates}
    return tuple(by_hash[h] for h in front if h in by_hash)
