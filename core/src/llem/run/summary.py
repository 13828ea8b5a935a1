"""The table printed when a study ends: one row per configuration, means across
cycles with their 95 % CI, and which configurations are on the Pareto front; for a
serving study with an SLO, then one line per load level naming the lowest-energy
configuration that meets the SLO (llem.analysis.serving)."""

from __future__ import annotations

from typing import Any

from llem.analysis.metrics import AGGREGATED_METRICS, METRICS, format_number, format_summary
from llem.analysis.serving import cheapest_per_load
from llem.results.schema import ConfigAggregate, StudyResult

_SHORT = {
    "energy_per_output_token_j": "J/token",
    "tokens_per_second": "tok/s",
    "ttft_mean_s": "TTFT s",
    "itl_mean_s": "ITL s",
}


def label(agg: ConfigAggregate) -> str:
    params = ", ".join(f"{k}={v}" for k, v in agg.params.items())
    head = agg.name or agg.config_hash
    return f"{head} ({params})" if params else head


def _rows(study: StudyResult) -> list[list[str]]:
    front = set(study.pareto_front)
    rows = []
    for agg in study.aggregates:
        total = agg.cycles_ok + agg.cycles_failed
        rows.append(
            [("★ " if agg.config_hash in front else "  ") + label(agg), f"{agg.cycles_ok}/{total}"]
            + [format_summary(agg.metrics.get(m)) for m in AGGREGATED_METRICS]
        )
    return rows


def _headers() -> list[str]:
    return ["configuration", "ok"] + [_SHORT.get(m, METRICS[m].label) for m in AGGREGATED_METRICS]


def _footer(study: StudyResult) -> str:
    failed = len(study.failures)
    ok = len(study.experiments) - failed
    axes = " vs ".join(study.pareto_axes)
    return (
        f"{study.status}: {ok} experiment(s) ok, {failed} failed; "
        f"mean [95 % BCa CI] across cycles; ★ = Pareto front ({axes}); "
        f"results in {study.run_dir}"
    )


def summary_lines(study: StudyResult) -> list[str]:
    rows = [_headers()] + _rows(study)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines + [_footer(study)] + serving_lines(study)


def serving_lines(study: StudyResult) -> list[str]:
    """Per load level: the cheapest configuration meeting the SLO, or that none did."""
    labels = {a.config_hash: label(a) for a in study.aggregates}
    out = []
    for choice in cheapest_per_load(study):
        level = ", ".join(f"{k}={v}" for k, v in choice.load.items()) or "the load"
        if choice.config_hash is None:
            out.append(f"at {level}: no configuration met the SLO ({choice.candidates} tried)")
            continue
        out.append(
            f"at {level}: cheapest meeting the SLO: {labels[choice.config_hash]} at "
            f"{format_number(choice.energy_per_output_token_j)} J/token "
            f"({choice.meeting} of {choice.candidates} met it)"
        )
    return out


def summary_table(study: StudyResult) -> Any:
    from rich.markup import escape
    from rich.table import Table

    caption = "\n".join([_footer(study), *serving_lines(study)])
    table = Table(caption=escape(caption), caption_justify="left")
    for i, h in enumerate(_headers()):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in _rows(study):
        table.add_row(*(escape(c) for c in row))
    return table
