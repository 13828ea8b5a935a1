"""The study-level figures: the Pareto fronts, each swept parameter, the energy
breakdown. Each function returns a ``Drawn``: the matplotlib Figure, or None with a
note saying why the study has nothing to draw (the HTML page shows the note).

Points are configurations: the mean across successful cycles with its 95 % BCa
interval as error bars (llem.report.stats); none when a configuration has < 3 cycles.
"""

from __future__ import annotations

from typing import Any

import attrs

from llem.analysis.metrics import ENERGY_METRIC, METRICS
from llem.analysis.pareto import pareto_indices
from llem.report import style
from llem.report.stats import config_stats, error_bar
from llem.report.study import LoadedStudy, short_key
from llem.results.schema import ExperimentResult, MetricSummary

THROUGHPUT = "tokens_per_second"
LATENCIES = ("itl_mean_s", "ttft_mean_s", "latency_mean_s", "itl_p99_s", "ttft_p99_s")


@attrs.frozen
class Drawn:
    """One figure of the report: ``name`` is its file stem; ``figure`` is None when the
    study has nothing to draw, with ``note`` saying why."""

    name: str
    title: str
    figure: Any | None
    note: str | None = None
    caption: str = ""


def axis_label(metric: str) -> str:
    m = METRICS[metric]
    return f"{m.label} ({m.unit})"


def latency_metric(study: LoadedStudy) -> str:
    """The latency axis of the second front: the study's own, else mean ITL."""
    second = study.pareto_axes[1]
    return second if second in METRICS and not METRICS[second].maximise else LATENCIES[0]


def pareto_figure(study: LoadedStudy, metric: str) -> Drawn:
    """J/token (y) against ``metric`` (x), every configuration with its intervals, the
    non-dominated ones highlighted and joined, points labelled by their parameters."""
    name = f"pareto_{metric}"
    title = f"Pareto front: energy per token vs {METRICS[metric].label}"
    stats = config_stats(study.experiments, {m: METRICS[m].read for m in (ENERGY_METRIC, metric)})
    points = [
        (h, x, y)
        for h, s in stats.items()
        if (x := error_bar(s[metric])) is not None
        and (y := error_bar(s[ENERGY_METRIC])) is not None
    ]
    if not points:
        return Drawn(name, title, None, f"no configuration has both {metric} and J/token")
    front = pareto_indices(
        [p[2][0] for p in points], [p[1][0] for p in points], maximise_y=METRICS[metric].maximise
    )
    fig, ax = style.new_figure()
    for i, (h, x, y) in enumerate(points):
        on_front = i in front
        ax.errorbar(
            x[0],
            y[0],
            xerr=[[x[1]], [x[2]]],
            yerr=[[y[1]], [y[2]]],
            fmt=style.marker(0),
            color=style.FRONT_COLOUR if on_front else style.colour(0),
            ecolor="#555555",
            elinewidth=0.8,
            capsize=2,
            markersize=6 if on_front else 4,
        )
        ax.annotate(
            study.label(h), (x[0], y[0]), xytext=(4, 4), textcoords="offset points", fontsize=7
        )
    ordered = sorted(front, key=lambda i: points[i][1][0])
    ax.plot(
        [points[i][1][0] for i in ordered],
        [points[i][2][0] for i in ordered],
        "--",
        color=style.FRONT_COLOUR,
        linewidth=1.2,
        label=f"Pareto front ({len(front)} of {len(points)})",
    )
    ax.set_xlabel(axis_label(metric))
    ax.set_ylabel(axis_label(ENERGY_METRIC))
    ax.set_title(title)
    ax.legend(loc="best")
    better = "right" if METRICS[metric].maximise else "left"
    return Drawn(
        name,
        title,
        fig,
        caption=f"Mean across cycles with 95 % BCa intervals; lower and further {better} is "
        f"better; highlighted points, joined by the dashed line, are beaten by no other on "
        f"both axes.",
    )


def swept_parameters(study: LoadedStudy) -> list[str]:
    """The parameters that take more than one value across the study's configurations."""
    keys: dict[str, set[str]] = {}
    for params in study.params.values():
        for k, v in params.items():
            keys.setdefault(k, set()).add(repr(v))
    return [k for k, seen in keys.items() if len(seen) > 1]


def parameter_figure(study: LoadedStudy, key: str) -> Drawn:
    """J/token and tokens/s against the parameter ``key``, one series per combination
    of the other parameters."""
    name = f"param_{key.replace('.', '_')}"
    title = f"{short_key(key)}: energy per token and throughput"
    metrics = (ENERGY_METRIC, THROUGHPUT)
    stats = config_stats(study.experiments, {m: METRICS[m].read for m in metrics})
    groups = _groups(study, key, stats)
    if not groups:
        return Drawn(name, title, None, f"no configuration with {key} produced J/token or tok/s")
    values = sorted({v for series in groups.values() for v, _ in series}, key=_order)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    fig, axes = style.new_figure(6.4, 5.2, nrows=2, sharex=True)
    for i, (group, series) in enumerate(groups.items()):
        series = sorted(series, key=lambda p: _order(p[0]))
        xs = [v if numeric else values.index(v) for v, _ in series]
        for ax, metric in zip(axes, metrics, strict=True):
            bars = [error_bar(s.get(metric)) for _, s in series]
            pts = [(x, b) for x, b in zip(xs, bars, strict=True) if b is not None]
            ax.errorbar(
                [x for x, _ in pts],
                [b[0] for _, b in pts],
                yerr=[[b[1] for _, b in pts], [b[2] for _, b in pts]],
                fmt="-" + style.marker(i),
                color=style.colour(i),
                capsize=2,
                label=group or "all",
            )
    for ax, metric in zip(axes, metrics, strict=True):
        ax.set_ylabel(axis_label(metric))
    axes[1].set_xlabel(key)
    if not numeric:
        axes[1].set_xticks(range(len(values)), [str(v) for v in values])
    if len(groups) > 1:
        axes[0].legend(title="other parameters", loc="best")
    axes[0].set_title(title)
    return Drawn(name, title, fig, caption="Mean across cycles with 95 % BCa intervals.")


def _groups(
    study: LoadedStudy, key: str, stats: dict[str, dict[str, MetricSummary]]
) -> dict[str, list[tuple[Any, dict[str, MetricSummary]]]]:
    groups: dict[str, list[tuple[Any, dict[str, MetricSummary]]]] = {}
    for h, s in stats.items():
        params = study.params.get(h) or {}
        if key not in params:
            continue
        rest = ", ".join(f"{short_key(k)}={v}" for k, v in params.items() if k != key)
        groups.setdefault(rest, []).append((params[key], s))
    return groups


def _order(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


BREAKDOWN_PARTS = ("prefill", "decode", "idle")


def breakdown_figure(study: LoadedStudy) -> Drawn:
    """Energy per output token of each configuration, stacked: prefill, decode (each
    net of idle) and idle (baseline power x window). The idle share is taken from
    prefill and decode in proportion to their size, as the attribution does per
    interval; without a baseline there is no idle part."""
    name, title = "energy_breakdown", "Energy per output token: prefill, decode, idle"
    reads = {part: _part_per_token(part) for part in BREAKDOWN_PARTS}
    stats = config_stats(study.experiments, reads)
    rows = [(h, s) for h, s in stats.items() if s["prefill"].mean is not None]
    if not rows:
        return Drawn(name, title, None, "no configuration has a prefill/decode energy split")
    fig, ax = style.new_figure(6.4, max(2.5, 0.45 * len(rows) + 1.5))
    labels = [study.label(h) for h, _ in rows]
    left = [0.0] * len(rows)
    for i, part in enumerate(BREAKDOWN_PARTS):
        widths = [s[part].mean or 0.0 for _, s in rows]
        ax.barh(labels, widths, left=left, color=style.colour(i), label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlabel("energy per output token (J/token)")
    ax.set_title(title)
    ax.invert_yaxis()
    ax.legend(loc="best")
    return Drawn(
        name,
        title,
        fig,
        caption="Means across cycles. Idle = baseline power x window, taken from prefill "
        "and decode pro rata; no idle part where the study had no baseline.",
    )


def _part_per_token(part: str) -> Any:
    def read(r: ExperimentResult) -> float | None:
        e, w = r.energy, r.workload
        if e is None or w is None or not w.output_tokens:
            return None
        if e.prefill_j is None or e.decode_j is None:
            return None
        total = e.prefill_j + e.decode_j
        idle = e.idle_j if e.idle_j is not None and total > 0 else 0.0
        if part == "idle":
            value = idle
        else:
            value = (e.prefill_j if part == "prefill" else e.decode_j) * (1 - idle / total)
        return value / w.output_tokens

    return read


def study_figures(study: LoadedStudy) -> list[Drawn]:
    """Every study-level figure, in the order the report shows them."""
    out = [pareto_figure(study, THROUGHPUT), pareto_figure(study, latency_metric(study))]
    out += [parameter_figure(study, key) for key in swept_parameters(study)]
    out.append(breakdown_figure(study))
    return out
