"""Per-configuration mean and 95 % interval of any per-experiment figure.

The figures need quantities the study does not aggregate (steady-state J/token, SLO
attainment, the idle part of the energy): they go through the same aggregation as the
study's own metrics (llem.analysis.aggregate: successful cycles only, BCa bootstrap
from 3 cycles up), so every error bar in a report means the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from llem.analysis.aggregate import aggregate_columns
from llem.results.schema import ExperimentResult, MetricSummary

Read = Callable[[ExperimentResult], "float | None"]


def config_stats(
    experiments: Sequence[ExperimentResult], reads: Mapping[str, Read]
) -> dict[str, dict[str, MetricSummary]]:
    """config hash -> figure name -> its summary across the configuration's cycles."""
    if not experiments:
        return {}
    values = {
        name: np.array([_number(read, r) for r in experiments], dtype=float)
        for name, read in reads.items()
    }
    ok = np.array([r.status == "ok" for r in experiments], dtype=bool)
    aggregates = aggregate_columns([r.config_hash for r in experiments], ok, values)
    return {a.config_hash: dict(a.metrics) for a in aggregates}


def _number(read: Read, result: ExperimentResult) -> float:
    value = read(result) if result.status == "ok" else None
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def error_bar(summary: MetricSummary | None) -> tuple[float, float, float] | None:
    """(mean, below, above) for matplotlib's ``xerr``/``yerr``; the bar is empty when
    there is no interval (fewer than 3 cycles). None when there is no mean. A BCa
    interval may lie wholly on one side of a skewed sample's mean; the bar then
    reaches the far end only (matplotlib draws no negative lengths)."""
    if summary is None or summary.mean is None:
        return None
    if summary.ci_low is None or summary.ci_high is None:
        return summary.mean, 0.0, 0.0
    m = summary.mean
    return m, max(0.0, m - summary.ci_low), max(0.0, summary.ci_high - m)
