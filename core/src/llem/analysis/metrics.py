"""The per-experiment figures a study aggregates and ranks, by one name each.

One table names every metric once: how to read it from an ExperimentResult, which
direction is better, and its unit. Aggregation, the Pareto frontier and the summary
table all use these names, so ``study.json`` and ``StudyResult.pareto(metric=...)``
speak the same vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from llem.results.schema import ExperimentResult, MetricSummary

ENERGY_METRIC = "energy_per_output_token_j"
DEFAULT_PARETO_METRIC = "itl_mean_s"


@attrs.frozen
class Metric:
    name: str
    read: Callable[[ExperimentResult], float | None]
    maximise: bool
    unit: str
    label: str


def _energy(field: str) -> Callable[[ExperimentResult], float | None]:
    return lambda r: None if r.energy is None else getattr(r.energy, field)


def _headline_energy(r: ExperimentResult) -> float | None:
    """J/token: the steady state's in serving mode (the headline), else the window's."""
    steady = r.steady_state
    if steady is not None and steady.energy_per_output_token_j is not None:
        return steady.energy_per_output_token_j
    return None if r.energy is None else r.energy.energy_per_output_token_j


def _slo(field: str) -> Callable[[ExperimentResult], float | None]:
    return lambda r: None if r.slo is None else getattr(r.slo, field)


def _request_energy(stat: str) -> Callable[[ExperimentResult], float | None]:
    def read(r: ExperimentResult) -> float | None:
        spread = None if r.energy is None else r.energy.request_j
        return None if spread is None else getattr(spread, stat)

    return read


def _perf(field: str) -> Callable[[ExperimentResult], float | None]:
    return lambda r: None if r.performance is None else getattr(r.performance, field)


def _latency(field: str, stat: str) -> Callable[[ExperimentResult], float | None]:
    def read(r: ExperimentResult) -> float | None:
        if r.performance is None:
            return None
        return getattr(getattr(r.performance, field), stat)

    return read


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            ENERGY_METRIC,
            _headline_energy,
            False,
            "J/token",
            "energy per output token (serving: steady state)",
        ),
        Metric(
            "adjusted_energy_per_output_token_j",
            _energy("adjusted_energy_per_output_token_j"),
            False,
            "J/token",
            "baseline-adjusted energy per output token",
        ),
        Metric("tokens_per_second", _perf("tokens_per_second"), True, "tok/s", "tokens/s"),
        Metric("requests_per_second", _perf("requests_per_second"), True, "req/s", "requests/s"),
        Metric("ttft_mean_s", _latency("ttft_s", "mean"), False, "s", "mean TTFT"),
        Metric("ttft_p99_s", _latency("ttft_s", "p99"), False, "s", "p99 TTFT"),
        Metric("itl_mean_s", _latency("itl_s", "mean"), False, "s", "mean ITL"),
        Metric("itl_p99_s", _latency("itl_s", "p99"), False, "s", "p99 ITL"),
        Metric("latency_mean_s", _latency("latency_s", "mean"), False, "s", "mean request latency"),
        Metric("latency_p99_s", _latency("latency_s", "p99"), False, "s", "p99 request latency"),
        Metric("ttft_p90_s", _latency("ttft_s", "p90"), False, "s", "p90 TTFT"),
        Metric("goodput_rps", _slo("goodput_rps"), True, "req/s", "goodput"),
        Metric("goodput_per_kj", _slo("goodput_per_kj"), True, "req/kJ", "goodput per kJ"),
        Metric("slo_attainment", _slo("attainment"), True, "", "SLO attainment"),
        Metric("request_energy_p50_j", _request_energy("p50"), False, "J", "median J/request"),
    )
}

# Summarised across cycles (with a bootstrap CI) in every StudyResult.
AGGREGATED_METRICS: tuple[str, ...] = (
    ENERGY_METRIC,
    "tokens_per_second",
    "ttft_mean_s",
    "itl_mean_s",
)


def get_metric(name: str) -> Metric:
    """The metric called ``name``, or a ValueError listing the known names."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of: {', '.join(METRICS)}") from None


def read_metric(result: ExperimentResult, name: str) -> float:
    """The metric as a float; NaN when the result does not have it (failed, no GPU)."""
    value = get_metric(name).read(result)
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def format_number(x: float | None) -> str:
    """Four significant figures, or a dash for a missing value (tables of metrics)."""
    return "–" if x is None else f"{x:.4g}"


def format_summary(summary: MetricSummary | None) -> str:
    """``mean [low, high]``, or the mean alone without an interval, or a dash."""
    if summary is None or summary.mean is None:
        return "–"
    mean = format_number(summary.mean)
    if summary.ci_low is not None and summary.ci_high is not None:
        return f"{mean} [{format_number(summary.ci_low)}, {format_number(summary.ci_high)}]"
    return mean
