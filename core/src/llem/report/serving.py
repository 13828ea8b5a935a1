"""Serving figures: J/token and SLO attainment against the offered load.

The load axis is the offered rate (requests/s; a trace's mean rate) of open-loop runs,
or the concurrency of closed-loop ones; a study mixing both draws the rate. J/token is
the steady state's (the headline window), else the whole run's. One series per
combination of the other parameters; mean across cycles with 95 % BCa intervals.
"""

from __future__ import annotations

from typing import Any

from llem.report import style
from llem.report.figures import Drawn, _order
from llem.report.stats import config_stats, error_bar
from llem.report.study import LoadedStudy, short_key
from llem.results.schema import ExperimentResult

LOAD_KEYS = ("load.rate", "load.concurrency", "load.arrival", "load.trace", "load.mode")
NO_SERVING = "the study has no serving results (load.mode: serving); nothing to draw"


def load_level(r: ExperimentResult) -> tuple[str, float] | None:
    """("rate", rps) or ("concurrency", n) of a serving result; None offline."""
    if r.load is None:
        return None
    if r.load.offered_rate_rps is not None:
        return "rate", r.load.offered_rate_rps
    if r.load.concurrency is not None:
        return "concurrency", float(r.load.concurrency)
    return None


def serving_j_per_token(r: ExperimentResult) -> float | None:
    for window in (r.steady_state, r.whole_run):
        if window is not None and window.energy_per_output_token_j is not None:
            return window.energy_per_output_token_j
    return None


def slo_attainment(r: ExperimentResult) -> float | None:
    return None if r.slo is None or r.slo.attainment is None else r.slo.attainment * 100


def serving_figure(study: LoadedStudy) -> Drawn:
    name, title = "serving_load", "Serving: energy per token and SLO attainment vs offered load"
    served = [r for r in study.ok if load_level(r) is not None]
    if not served:
        return Drawn(name, title, None, NO_SERVING)
    kinds = {load_level(r)[0] for r in served}  # type: ignore[index]
    kind = "rate" if "rate" in kinds else "concurrency"
    served = [r for r in served if load_level(r)[0] == kind]  # type: ignore[index]
    stats = config_stats(
        served,
        {
            "load": lambda r: load_level(r)[1],  # type: ignore[index]
            "j": serving_j_per_token,
            "slo": slo_attainment,
        },
    )
    groups = _groups(study, stats)
    fig, (energy, slo) = style.new_figure(6.4, 5.2, nrows=2, sharex=True)
    for i, (group, series) in enumerate(groups.items()):
        series.sort(key=lambda p: _order(p[0]))
        for ax, key in ((energy, "j"), (slo, "slo")):
            pts = [(x, error_bar(s[key])) for x, s in series if error_bar(s[key])]
            ax.errorbar(
                [x for x, _ in pts],
                [b[0] for _, b in pts],  # type: ignore[index]
                yerr=[[b[1] for _, b in pts], [b[2] for _, b in pts]],  # type: ignore[index]
                fmt="-" + style.marker(i),
                color=style.colour(i),
                capsize=2,
                label=group or "all",
            )
    energy.set_ylabel("energy per output token (J/token)")
    slo.set_ylabel("SLO attainment (% of requests)")
    slo.set_ylim(-2, 102)
    slo.set_xlabel(
        "offered load (requests/s)" if kind == "rate" else "concurrency (requests in flight)"
    )
    energy.set_title(title)
    if len(groups) > 1:
        energy.legend(title="other parameters", loc="best")
    note = None if all(r.slo is not None for r in served) else "runs without an slo: section"
    return Drawn(
        name,
        title,
        fig,
        note=note,
        caption="J/token of the steady state (else the whole run); SLO attainment: share of "
        "requests meeting every SLO term. Mean across cycles with 95 % BCa intervals.",
    )


def _groups(study: LoadedStudy, stats: dict[str, Any]) -> dict[str, list[tuple[float, Any]]]:
    groups: dict[str, list[tuple[float, Any]]] = {}
    for h, s in stats.items():
        if s["load"].mean is None:
            continue
        params = study.params.get(h) or {}
        rest = ", ".join(f"{short_key(k)}={v}" for k, v in params.items() if k not in LOAD_KEYS)
        groups.setdefault(rest, []).append((s["load"].mean, s))
    return groups
