"""For each load level of a serving study, the lowest-energy configuration meeting the SLO.

A load level is the value of every varying ``load.*`` parameter (the rate, the
concurrency, the arrival process); the configurations at one level are the
aggregates that share it. A configuration meets the SLO when every successful cycle's
``slo.met`` is True; among those, the one with the lowest mean headline J/token
(steady state) wins -- "the cheapest way to serve 16 req/s at TTFT p90 <= 0.5 s".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from llem.analysis.metrics import ENERGY_METRIC
from llem.results.schema import ConfigAggregate, StudyResult


@attrs.frozen
class LoadChoice:
    load: Mapping[str, Any]  # the load.* parameters of the level
    config_hash: str | None  # None: no configuration met the SLO at this level
    energy_per_output_token_j: float | None
    candidates: int  # configurations at this level
    meeting: int  # of which met the SLO


def cheapest_per_load(study: StudyResult) -> list[LoadChoice]:
    """One LoadChoice per load level, in order of first appearance; empty when the study
    has no serving experiment with an SLO."""
    met = _slo_met(study)
    if not met:
        return []
    levels: dict[str, list[ConfigAggregate]] = {}
    loads: dict[str, dict[str, Any]] = {}
    for agg in study.aggregates:
        if agg.config_hash not in met:
            continue
        load = {k: v for k, v in agg.params.items() if k.startswith("load.")}
        key = repr(sorted(load.items()))
        levels.setdefault(key, []).append(agg)
        loads[key] = load
    return [_choose(loads[key], aggs, met) for key, aggs in levels.items()]


def _choose(
    load: Mapping[str, Any], aggs: list[ConfigAggregate], met: Mapping[str, bool]
) -> LoadChoice:
    good = [a for a in aggs if met[a.config_hash] and _energy(a) is not None]
    best = min(good, key=lambda a: _energy(a) or math.inf, default=None)
    return LoadChoice(
        load=dict(load),
        config_hash=best.config_hash if best else None,
        energy_per_output_token_j=_energy(best) if best else None,
        candidates=len(aggs),
        meeting=sum(1 for a in aggs if met[a.config_hash]),
    )


def _slo_met(study: StudyResult) -> dict[str, bool]:
    """Config hash -> every ok cycle met the SLO (only configurations with an SLO)."""
    out: dict[str, bool] = {}
    for r in study.experiments:
        if r.status != "ok" or r.slo is None:
            continue
        out[r.config_hash] = out.get(r.config_hash, True) and bool(r.slo.met)
    return out


def _energy(agg: ConfigAggregate | None) -> float | None:
    summary = None if agg is None else agg.metrics.get(ENERGY_METRIC)
    return None if summary is None else summary.mean
