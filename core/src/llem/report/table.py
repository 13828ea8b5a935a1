"""The summary table of a study: one row per configuration, means across cycles with
their 95 % intervals, the Pareto front starred. Shared by ``llem results show`` (rich)
and report.html."""

from __future__ import annotations

from llem.analysis.metrics import AGGREGATED_METRICS, METRICS, format_summary
from llem.report.study import LoadedStudy

SHORT = {
    "energy_per_output_token_j": "J/token",
    "tokens_per_second": "tok/s",
    "ttft_mean_s": "mean TTFT (s)",
    "itl_mean_s": "mean ITL (s)",
}
HEADERS = (
    "configuration",
    "ok",
    *(SHORT.get(m, f"{METRICS[m].label} ({METRICS[m].unit})") for m in AGGREGATED_METRICS),
)


def summary_rows(study: LoadedStudy) -> list[list[str]]:
    front = set(study.pareto_front)
    rows = []
    for agg in study.aggregates:
        star = "★ " if agg.config_hash in front else ""
        total = agg.cycles_ok + agg.cycles_failed
        rows.append(
            [star + study.label(agg.config_hash), f"{agg.cycles_ok}/{total}"]
            + [format_summary(agg.metrics.get(m)) for m in AGGREGATED_METRICS]
        )
    return rows


def footer(study: LoadedStudy) -> str:
    ok = len(study.ok)
    failed = len(study.experiments) - ok
    return (
        f"{study.status}: {ok} experiment(s) ok, {failed} failed; mean [95 % BCa CI] across "
        f"cycles; ★ = Pareto front ({' vs '.join(study.pareto_axes)})"
    )


def rich_table(study: LoadedStudy) -> object:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"{study.name} ({study.run_dir})"), caption=escape(footer(study)))
    for i, header in enumerate(HEADERS):
        table.add_column(escape(header), justify="left" if i == 0 else "right")
    for row in summary_rows(study):
        table.add_row(*(escape(c) for c in row))
    return table
