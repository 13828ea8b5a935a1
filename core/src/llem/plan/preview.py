"""What ``llem run --dry-run`` shows: every resolved experiment, what varies, and
whether it will fit and how long it will take, before any GPU work.

Fast by construction (a 10,000-experiment sweep in a few seconds; only MAX_ROWS rows are
shown and canonicalised, the totals cover every experiment): architectures are
read once per model, GPUs are discovered once, and nothing imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs

from llem.config.identity import config_to_dict, hash_dict, varying_from_dicts
from llem.config.schema import ExperimentConfig, StudyConfig
from llem.plan import estimate
from llem.run.order import engine_reusers

GiB = 1024**3
TIGHT = 0.9


@attrs.frozen
class Gpus:
    """Memory of the GPUs present by CUDA index, or why none were seen."""

    memory_by_cuda_index: dict[int, int]
    names: tuple[str, ...]
    reason: str | None = None

    @classmethod
    def discover(cls) -> Gpus:
        try:
            from llem.telemetry.devices import discover_gpus
        except ImportError as exc:
            return cls({}, (), f"GPU discovery unavailable ({exc})")
        try:
            found = discover_gpus()
        except Exception as exc:  # discovery must never break a dry run
            return cls({}, (), f"GPU discovery failed: {type(exc).__name__}: {exc}")
        if not found.devices:
            return cls({}, (), found.reason or "NVML sees no GPU")
        memory = {d.cuda_index: d.memory_total_bytes for d in found.devices if d.cuda_index >= 0}
        names = tuple(
            f"{d.name} ({d.memory_total_bytes / GiB:.0f} GiB)"
            for d in found.devices
            if d.cuda_index >= 0
        )
        if not memory:
            return cls({}, (), "every GPU is hidden by CUDA_VISIBLE_DEVICES")
        return cls(memory, names)


@attrs.frozen
class Row:
    index: int
    config_hash: str
    params: dict[str, Any]
    memory: estimate.MemoryEstimate
    fit: str
    run: estimate.TimeEstimate


@attrs.frozen
class Preview:
    """``rows``: the experiments shown, all of them up to ``MAX_ROWS``, else the first and
    last ``MAX_ROWS // 2``; the totals (``count``, ``unfit``, ``total_s``) cover all."""

    study: StudyConfig
    rows: tuple[Row, ...]
    gpus: Gpus
    total_s: float
    total_is_lower_bound: bool
    count: int = 0
    unfit: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()


MAX_ROWS = 40


def fit(cfg: ExperimentConfig, mem: estimate.MemoryEstimate, gpus: Gpus) -> str:
    """fits | tight | WON'T FIT | unknown | CPU | no GPU seen | GPU n absent."""
    if not cfg.devices:
        return "CPU"
    if gpus.reason is not None:
        return "no GPU seen"
    missing = [i for i in cfg.devices if i not in gpus.memory_by_cuda_index]
    if missing:
        return f"GPU {missing[0]} absent"
    if mem.per_gpu_bytes is None:
        return "unknown"
    fraction = getattr(cfg.section(cfg.backend), "gpu_memory_utilization", None)
    capacity = float(min(gpus.memory_by_cuda_index[i] for i in cfg.devices))
    capacity *= fraction if isinstance(fraction, float) and 0 < fraction <= 1 else 1.0
    if mem.per_gpu_bytes > capacity:
        return "WON'T FIT"
    return "tight" if mem.per_gpu_bytes > TIGHT * capacity else "fits"


def build_preview(study: StudyConfig, gpus: Gpus | None = None) -> Preview:
    """The preview of ``study``. Memory, fit and time are estimated for every experiment
    (cheap); the canonical form, hash and varying parameters -- the costly part, seconds
    for 10,000 experiments -- only for the rows shown (see ``Preview``), so a dry run of
    a huge grid stays fast: what varies is shown as it varies among those rows."""
    gpus = gpus if gpus is not None else Gpus.discover()
    n = len(study.experiments)
    shown = (
        list(range(n)) if n <= MAX_ROWS else [*range(MAX_ROWS // 2), *range(n - MAX_ROWS // 2, n)]
    )
    dicts = [config_to_dict(study.experiments[i]) for i in shown]
    params = dict(zip(shown, varying_from_dicts(dicts), strict=True))
    hashes = dict(zip(shown, (hash_dict(d) for d in dicts), strict=True))
    reusers = engine_reusers(study)
    rows, runs, unfit, notes = [], [], [], set()
    for i, cfg in enumerate(study.experiments):
        mem = estimate.memory(cfg)
        fitted, run = fit(cfg, mem, gpus), estimate.run_time(cfg, 0.0, i not in reusers)
        runs.append(run)
        unfit += [i + 1] if fitted == "WON'T FIT" else []
        notes.update([mem.note] if mem.note else [])
        if i in params:
            rows.append(Row(i + 1, hashes[i], params[i], mem, fitted, run))
    total, lower = _total_seconds(study, runs)
    return Preview(study, tuple(rows), gpus, total, lower, n, tuple(unfit), tuple(sorted(notes)))


def _total_seconds(
    study: StudyConfig, estimates: Sequence[estimate.TimeEstimate]
) -> tuple[float, bool]:
    ex = study.execution
    runs = 0.0
    lower = False
    for run in estimates:
        t = run.total_s
        if t is None:
            lower = True
            t = run.fixed_s
        runs += t * ex.first_cycles
    n, k = len(estimates), ex.first_cycles  # cycles: auto counts its first round
    if ex.order == "sequential":
        cycle_gaps, config_gaps = n * (k - 1), n - 1
    else:
        cycle_gaps, config_gaps = k - 1, n * k - 1 - (k - 1)
    total = runs + cycle_gaps * ex.cycle_gap_s + config_gaps * ex.config_gap_s
    with_baseline = [e.baseline for e in study.experiments if e.baseline.enabled]
    if with_baseline:
        b = max(with_baseline, key=lambda b: b.duration_s)
        repeats = n * k if b.cache_ttl_s <= 0 else max(1, math.ceil(total / b.cache_ttl_s))
        total += b.duration_s * min(repeats, n * k)
    return total, lower


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def memory_text(mem: estimate.MemoryEstimate) -> str:
    if mem.per_gpu_bytes is None:
        return "unknown"
    text = f"{mem.per_gpu_bytes / GiB:.2f} GiB"
    return text + (f" x {mem.gpus}" if mem.gpus > 1 else "")


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def render(preview: Preview, console: Any) -> None:
    """Print the dry-run table and its summary to a rich Console."""
    from rich.table import Table

    study = preview.study
    title = f"{study.name}: {preview.count} experiment(s), dry run"
    if len(preview.rows) < preview.count:
        title += f" (the first and last {len(preview.rows) // 2} shown)"
    table = Table(title=title, title_justify="left")
    names = [study.experiments[row.index - 1].name or "" for row in preview.rows]
    show_names = len(set(names)) > 1
    columns = [
        "#",
        "config",
        *(["name"] if show_names else []),
        "varying parameters",
        "memory/GPU",
        "fits",
        "time/run",
    ]
    for col in columns:
        table.add_column(col, overflow="fold")
    for k, (row, name) in enumerate(zip(preview.rows, names, strict=True)):
        if k == len(preview.rows) // 2 and len(preview.rows) < preview.count:
            table.add_row(
                "...", f"{preview.count - len(preview.rows):,} more", *[""] * (len(columns) - 2)
            )
        fit_text = f"[bold red]{row.fit}[/]" if row.fit == "WON'T FIT" else row.fit
        table.add_row(
            str(row.index),
            row.config_hash,
            *([name] if show_names else []),
            params_text(row.params),
            memory_text(row.memory),
            fit_text,
            duration(row.run.total_s),
        )
    console.print(table)
    _summary(preview, console)


def _plan(preview: Preview, console: Any, bound: str) -> None:
    """How many run at once with the configured executor, and the wall time then (the
    one-at-a-time total shared out: a rough figure, gaps included)."""
    from llem.run.executors import concurrency, gpus_needed

    study, ex = preview.study, preview.study.execution
    needs = [gpus_needed(e, ex.parallel) for e in study.experiments]
    at_once, why = concurrency(ex, needs, len(preview.gpus.memory_by_cuda_index))
    at_once = max(1, min(at_once, preview.count * ex.first_cycles))
    console.print(
        f"plan: executor {ex.executor}, {at_once} experiment(s) at once ({why}); "
        f"estimated wall time {bound}{duration(preview.total_s / at_once)}"
    )


def _summary(preview: Preview, console: Any) -> None:
    study, ex = preview.study, preview.study.execution
    n = preview.count
    bound = ">= " if preview.total_is_lower_bound else "~"
    k = ex.first_cycles
    auto = (
        f" (cycles: auto, up to {ex.max_cycles} where the CI is wide)"
        if ex.cycles == "auto"
        else ""
    )
    console.print(
        f"{n} experiment(s) x {k} cycle(s) = {n * k} runs{auto}, "
        f"order {ex.order}; estimated wall time {bound}{duration(preview.total_s)} one at a time"
    )
    _plan(preview, console, bound)
    if preview.gpus.reason is not None:
        console.print(f"no GPU seen: {preview.gpus.reason}")
    else:
        console.print("GPUs: " + "; ".join(preview.gpus.names))
    unfit = preview.unfit
    if unfit:
        shown = ", ".join(f"#{i}" for i in unfit[:20]) + (" ..." if len(unfit) > 20 else "")
        console.print(f"[bold red]{len(unfit)} experiment(s) will not fit:[/] {shown}")
    for note in preview.notes:
        console.print(f"memory unknown for some experiments: {note}")
    console.print(
        "Estimates assume: weights + KV cache only (no activations, CUDA context or "
        "allocator slack); KV for batch x (input_len + max_new_tokens); decoding reads "
        "every weight once per step at ~2 TB/s (>= 15 ms/step), prefill at ~300 TFLOP/s "
        "(fp32: 40); load 10 s + weights at 1 GB/s; one idle baseline per "
        "baseline.cache_ttl_s. Real times vary several-fold by GPU and engine.",
        style="dim",
    )
    if study.profile:
        console.print(f"profile: {study.profile}")
