"""Per configuration: GPU power and temperature over time, with the phases shaded.

timeseries.parquet covers the measured window only (``t_s`` = seconds from its
opening). The phases before it -- baseline, load, warmup, thermal floor -- were not
sampled into it; they are drawn as bands of their recorded durations ending at t = 0,
with the baseline's mean power as a dashed level. Inside the window: a serving run
shades its steady state (the headline window); an offline run shades prefill from the
window's start to the mean first token (all requests are submitted at t = 0, so that
is when the typical prompt has been processed) and decode after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llem.report import style
from llem.report.figures import Drawn
from llem.report.study import LoadedStudy
from llem.results.schema import ExperimentResult

BEFORE_WINDOW = (
    ("baseline", "baseline_s"),
    ("load", "load_s"),
    ("warmup", "warmup_s"),
    ("thermal floor", "thermal_floor_s"),
)


def trace_figures(study: LoadedStudy) -> list[Drawn]:
    """One figure per configuration: its first successful cycle with a time series (the
    other cycles repeat it; a study of 100 configurations x 5 cycles stays readable)."""
    first: dict[str, ExperimentResult] = {}
    for r in study.ok:
        if r.timeseries_file:
            first.setdefault(r.config_hash, r)
    return [trace_figure(study, r) for r in first.values()]


def trace_figure(study: LoadedStudy, result: ExperimentResult) -> Drawn:
    name = f"trace_{result.id}"
    title = f"{study.label(result.config_hash)} (cycle {result.cycle}): power and temperature"
    path = Path(study.run_dir) / str(result.timeseries_file)
    if not path.exists():
        return Drawn(name, title, None, f"{path} is missing")
    columns = read_timeseries(path)
    fig, (power, temp) = style.new_figure(6.4, 4.6, nrows=2, sharex=True)
    for i, uuid in enumerate(dict.fromkeys(columns["gpu_uuid"])):
        for ax, column in ((power, "power_w"), (temp, "temperature_c")):
            pts = _series(columns, uuid, column)
            ax.plot(
                [t for t, _ in pts], [v for _, v in pts], color=style.colour(i), label=uuid[:12]
            )
    bands = phase_bands(result)
    for ax in (power, temp):
        for label, start, end in bands:
            ax.axvspan(start, end, color=style.PHASE_COLOURS[label], alpha=0.3, label=label)
    base = result.energy.baseline_power_w if result.energy else None
    if base is not None and bands and bands[0][0] == "baseline":
        gpus = len(result.environment.gpus) if result.environment else 1
        _, start, end = bands[0]
        power.hlines(base / max(gpus, 1), start, end, colors="#000000", linestyles="--")
    power.set_ylabel("GPU power (W)")
    temp.set_ylabel("GPU temperature (°C)")
    temp.set_xlabel("time from the window's start (s)")
    power.set_title(title)
    _legend(power)
    return Drawn(name, title, fig, caption=_caption(result))


def read_timeseries(path: Path) -> dict[str, list[Any]]:
    import pyarrow.parquet as pq

    wanted = ["t_s", "gpu_uuid", "power_w", "temperature_c"]
    return pq.ParquetFile(path).read(columns=wanted).to_pydict()


def _series(columns: dict[str, list[Any]], uuid: str, column: str) -> list[tuple[float, float]]:
    pts = [
        (t, v)
        for t, g, v in zip(columns["t_s"], columns["gpu_uuid"], columns[column], strict=True)
        if g == uuid and v is not None
    ]
    return sorted(pts)


def phase_bands(result: ExperimentResult) -> list[tuple[str, float, float]]:
    """(label, start_s, end_s) of every phase known, in time order; t = 0 opens the window."""
    bands: list[tuple[str, float, float]] = []
    phases = result.phases
    if phases is not None:
        before = [(label, getattr(phases, f)) for label, f in BEFORE_WINDOW]
        start = -sum(d for _, d in before if d)
        for label, seconds in before:
            if seconds:
                bands.append((label, start, start + seconds))
                start += seconds
    window = phases.window_s if phases is not None else None
    steady = result.steady_state
    if steady is not None and steady.start_s is not None and steady.duration_s:
        bands.append(("steady state", steady.start_s, steady.start_s + steady.duration_s))
    elif window and result.load is None:
        ttft = result.performance.ttft_s.mean if result.performance else None
        if ttft is not None and 0 < ttft < window:
            bands += [("prefill", 0.0, ttft), ("decode", ttft, window)]
    return bands


def _caption(result: ExperimentResult) -> str:
    text = (
        "Bands before t = 0 are the recorded phase durations (not sampled into the "
        "time series); the dashed line is the idle baseline per GPU."
    )
    if result.load is not None:
        return text + " The shaded window is the serving steady state."
    return text + " Prefill: from the window's start to the mean first token."


def _legend(ax: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), loc="upper left", fontsize=7, ncols=3)
