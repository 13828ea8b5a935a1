"""``llem results compare RUN_A RUN_B``: did anything change between two studies of the
same configurations (a driver update, another node, a new engine version)?

Configurations are matched by config hash (the resolved config, identical when only
the machine changed); those left over are matched by their parameter values (the
full config less ``name``, ``execution`` and ``output``), so a renamed study still
pairs up. Per matched pair and metric: B / A of the means, and whether the 95 %
intervals overlap ("no" is a difference worth a look; "n/a" when either has no
interval -- fewer than 3 cycles).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from llem.report.study import LoadedStudy
from llem.results.schema import ConfigAggregate, MetricSummary

COMPARED = ("energy_per_output_token_j", "tokens_per_second")
NOT_PARAMS = ("name", "execution", "output")


@attrs.frozen
class MetricChange:
    metric: str
    a: MetricSummary | None
    b: MetricSummary | None
    ratio: float | None  # b.mean / a.mean
    overlap: bool | None  # None: an interval is missing


@attrs.frozen
class Pair:
    label: str
    matched_by: str  # "config hash" | "parameters"
    a_hash: str
    b_hash: str
    changes: tuple[MetricChange, ...]


@attrs.frozen
class Comparison:
    pairs: tuple[Pair, ...]
    only_a: tuple[str, ...]  # labels of configurations without a partner
    only_b: tuple[str, ...]


def compare(a: LoadedStudy, b: LoadedStudy) -> Comparison:
    b_by_hash = {g.config_hash: g for g in b.aggregates}
    pairs: list[Pair] = []
    left_a, used_b = [], set()
    for agg in a.aggregates:
        partner = b_by_hash.get(agg.config_hash)
        if partner is None:
            left_a.append(agg)
            continue
        used_b.add(partner.config_hash)
        pairs.append(_pair(a, agg, partner, "config hash"))
    b_by_params = {
        _params_key(b, g.config_hash): g for g in b.aggregates if g.config_hash not in used_b
    }
    only_a = []
    for agg in left_a:
        partner = b_by_params.pop(_params_key(a, agg.config_hash), None)
        if partner is None:
            only_a.append(a.label(agg.config_hash))
            continue
        used_b.add(partner.config_hash)
        pairs.append(_pair(a, agg, partner, "parameters"))
    only_b = tuple(b.label(g.config_hash) for g in b.aggregates if g.config_hash not in used_b)
    return Comparison(tuple(pairs), tuple(only_a), only_b)


def _params_key(study: LoadedStudy, config_hash: str) -> str:
    result = next(r for r in study.experiments if r.config_hash == config_hash)
    config = {k: v for k, v in (result.config or {}).items() if k not in NOT_PARAMS}
    return json.dumps(config, sort_keys=True, default=str)


def _pair(study: LoadedStudy, a: ConfigAggregate, b: ConfigAggregate, how: str) -> Pair:
    changes = tuple(change(m, a.metrics.get(m), b.metrics.get(m)) for m in COMPARED)
    return Pair(study.label(a.config_hash), how, a.config_hash, b.config_hash, changes)


def change(metric: str, a: MetricSummary | None, b: MetricSummary | None) -> MetricChange:
    ratio = None
    if a is not None and b is not None and a.mean and b.mean is not None:
        ratio = b.mean / a.mean
    return MetricChange(metric, a, b, ratio, overlap(a, b))


def overlap(a: MetricSummary | None, b: MetricSummary | None) -> bool | None:
    bounds = [(s.ci_low, s.ci_high) for s in (a, b) if s is not None]
    if len(bounds) < 2 or any(lo is None or hi is None for lo, hi in bounds):
        return None
    (lo_a, hi_a), (lo_b, hi_b) = bounds
    return bool(lo_a <= hi_b and lo_b <= hi_a)  # type: ignore[operator]


def rich_comparison(result: Comparison, a: LoadedStudy, b: LoadedStudy) -> list[Any]:
    from rich.markup import escape
    from rich.table import Table

    from llem.analysis.metrics import format_summary

    table = Table(title=escape(f"A = {a.run_dir}\nB = {b.run_dir}"), caption=_caption())
    table.add_column("configuration")
    table.add_column("matched by")
    for m in ("J/token", "tok/s"):
        for col in (f"{m} A", f"{m} B", "B/A", "CIs overlap"):
            table.add_column(col, justify="right")
    for p in result.pairs:
        cells: list[str] = [p.label, p.matched_by]
        for c in p.changes:
            cells += [
                format_summary(c.a),
                format_summary(c.b),
                _ratio(c.ratio),
                _overlap(c.overlap),
            ]
        table.add_row(*(escape(x) for x in cells))
    out: list[Any] = [table]
    for side, labels in (("A", result.only_a), ("B", result.only_b)):
        if labels:
            out.append(f"only in {side}: " + "; ".join(labels))
    return out


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _overlap(x: bool | None) -> str:
    return "n/a" if x is None else ("yes" if x else "NO")


def _caption() -> str:
    return (
        "mean [95 % BCa CI] across cycles; B/A of the means; CIs overlap NO: the "
        "difference is larger than the cycles' spread; n/a: fewer than 3 cycles"
    )
