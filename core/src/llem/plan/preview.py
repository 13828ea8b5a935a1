"""What ``llem run --dry-run`` shows: every resolved experiment, what varies, and
whether it will fit and how long it will take, before any GPU work.

Fast by construction (a 1,200-experiment sweep in well under 5 s): architectures are
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
    study: StudyConfig
    rows: tuple[Row, ...]
    gpus: Gpus
    total_s: float
    total_is_lower_bound: bool


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
    capacity = min(gpus.memory_by_cuda_index[i] for i in cfg.devices)
    capacity *= fraction if isinstance(fraction, float) and 0 < fraction <= 1 else 1.0
    if mem.per_gpu_bytes > capacity:
        return "WON'T FIT"
    return "tight" if mem.per_gpu_bytes > TIGHT * capacity else "fits"


def build_preview(study: StudyConfig, gpus: Gpus | None = None) -> Preview:
    gpus = gpus if gpus is not None else Gpus.discover()
    dicts = [config_to_dict(e) for e in study.experiments]
    params = varying_from_dicts(dicts)
    rows = []
    for i, (cfg, d, p) in enumerate(zip(study.experiments, dicts, params, strict=True)):
        mem = estimate.memory(cfg)
        rows.append(
            Row(i + 1, hash_dict(d), p, mem, fit(cfg, mem, gpus), estimate.run_time(cfg, 0.0))
        )
    total, lower = _total_seconds(study, rows)
    return Preview(study, tuple(rows), gpus, total, lower)


def _total_seconds(study: StudyConfig, rows: Sequence[Row]) -> tuple[float, bool]:
    ex = study.execution
    runs = 0.0
    lower = False
    for row in rows:
        t = row.run.total_s
        if t is None:
            lower = True
            t = row.run.fixed_s
        runs += t * ex.cycles
    n, k = len(rows), ex.cycles
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
    table = Table(
        title=f"{study.name}: {len(preview.rows)} experiment(s), dry run", title_justify="left"
    )
    names = [e.name or "" for e in study.experiments]
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
    for row, name in zip(preview.rows, names, strict=True):
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


def _summary(preview: Preview, console: Any) -> None:
    study, ex = preview.study, preview.study.execution
    n = len(preview.rows)
    bound = ">= " if preview.total_is_lower_bound else "~"
    console.print(
        f"{n} experiment(s) x {ex.cycles} cycle(s) = {n * ex.cycles} runs, "
        f"order {ex.order}; estimated wall time {bound}{duration(preview.total_s)}"
    )
    if preview.gpus.reason is not None:
        console.print(f"no GPU seen: {preview.gpus.reason}")
    else:
        console.print("GPUs: " + "; ".join(preview.gpus.names))
    unfit = [r.index for r in preview.rows if r.fit == "WON'T FIT"]
    if unfit:
        shown = ", ".join(f"#{i}" for i in unfit[:20]) + (" ..." if len(unfit) > 20 else "")
        console.print(f"[bold red]{len(unfit)} experiment(s) will not fit:[/] {shown}")
    unknown = {r.memory.note for r in preview.rows if r.memory.note}
    for note in sorted(unknown):
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
