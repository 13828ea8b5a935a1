"""One flat row per experiment x cycle: what results.parquet holds, for pandas/polars/duckdb.

Identity first (id, cycle, status, config_hash, name, backend, model), then the
parameters that vary across the study as columns under their dotted keys
(``pytorch.batch_size``), then the key metrics. Missing figures are None, never 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llem.results.schema import ExperimentResult, LatencyStats

IDENTITY = ("id", "cycle", "status", "config_hash", "name", "backend", "model")


def flat_row(result: ExperimentResult, params: Mapping[str, Any]) -> dict[str, Any]:
    """The flat row of ``result``; ``params`` maps dotted keys to this experiment's values."""
    cfg = result.config or {}
    row: dict[str, Any] = {
        "id": result.id,
        "cycle": result.cycle,
        "status": result.status,
        "config_hash": result.config_hash,
        "name": result.name,
        "backend": cfg.get("backend"),
        "model": cfg.get("model"),
    }
    for key, value in params.items():
        if key not in row:
            row[key] = scalar(value)
    row.update(_metrics(result))
    return row


def scalar(value: Any) -> Any:
    """Parquet cells hold scalars: lists and mappings become JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _metrics(r: ExperimentResult) -> dict[str, Any]:
    out: dict[str, Any] = {"started_at": r.started_at, "ended_at": r.ended_at}
    perf, energy, wl = r.performance, r.energy, r.workload
    out["duration_s"] = perf.duration_s if perf else None
    out["tokens_per_second"] = perf.tokens_per_second if perf else None
    out["requests_per_second"] = perf.requests_per_second if perf else None
    for name in ("ttft_s", "itl_s", "latency_s"):
        stats: LatencyStats | None = getattr(perf, name) if perf else None
        stem = name[:-2]
        for stat in ("mean", "p50", "p90", "p99"):
            out[f"{stem}_{stat}_s"] = getattr(stats, stat) if stats else None
    for field in (
        "energy_per_output_token_j",
        "adjusted_energy_per_output_token_j",
        "total_j",
        "gpu_j",
        "cpu_j",
        "dram_j",
        "adjusted_j",
        "prefill_j",
        "decode_j",
        "baseline_power_w",
        "mean_power_w",
        "accuracy_bound_j",
        "co2_kg",
    ):
        out[field] = getattr(energy, field) if energy else None
    out["meter"] = energy.meter if energy else None
    out["energy_method"] = energy.method if energy else None
    out["energy_null_reason"] = energy.null_reason if energy else None
    out["num_prompts"] = wl.num_prompts if wl else None
    out["input_tokens"] = wl.input_tokens if wl else None
    out["output_tokens"] = wl.output_tokens if wl else None
    out["flops_total"] = r.flops.total if r.flops else None
    out["window_s"] = r.phases.window_s if r.phases else None
    out.update(_serving(r))
    # graded "info" (e.g. a GPU's normal power capping) apart, so real warnings stand out
    out["warnings"] = ",".join(w.code for w in r.warnings if w.severity != "info")
    out["notes"] = ",".join(w.code for w in r.warnings if w.severity == "info")
    out["error_kind"] = r.error.kind if r.error else None
    out["error_message"] = r.error.message if r.error else None
    return out


def _serving(r: ExperimentResult) -> dict[str, Any]:
    """The serving columns (None offline): load, SLO, both windows, per-request spreads."""
    perf, energy, load, slo = r.performance, r.energy, r.load, r.slo
    out: dict[str, Any] = {"load_mode": load.mode if load else "offline"}
    for field in LOAD_FIELDS:
        out[field] = getattr(load, field) if load else None
    out["send_error_p99_ms"] = load.send_error_ms.p99 if load and load.send_error_ms else None
    for field in ("attainment", "good_requests", "goodput_rps", "goodput_per_kj", "met"):
        out[f"slo_{field}"] = getattr(slo, field) if slo else None
    for window in ("whole_run", "steady_state"):
        w = getattr(r, window)
        for field in ("duration_s", "energy_j", "output_tokens", "energy_per_output_token_j"):
            out[f"{window}_{field}"] = getattr(w, field) if w else None
    for name in ("tpot_s", "queue_s"):
        stats = getattr(perf, name) if perf else None
        for stat in ("p50", "p90", "p99"):
            out[f"{name[:-2]}_{stat}_s"] = getattr(stats, stat) if stats else None
    spread = energy.request_j if energy else None
    for stat in ("p50", "p90", "p99"):
        out[f"request_energy_{stat}_j"] = getattr(spread, stat) if spread else None
    out["idle_j"] = energy.idle_j if energy else None
    out["requests_file"] = r.requests_file
    return out


LOAD_FIELDS = (
    "arrival",
    "offered_rate_rps",
    "achieved_rate_rps",
    "concurrency",
    "requests_sent",
    "requests_failed",
    "send_error_max_ms",
    "overloaded",
)
