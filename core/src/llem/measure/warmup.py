"""Warmup before the window: caches, allocators, kernels and clocks reach steady state.

One warmup run is one batch as the backend would form it: the first ``batch_size``
requests (the backend section's ``batch_size`` if it has one, else a single request),
at full length (``mode: full``) or one new token (``mode: fast``, which warms the
prefill path only). With ``cv_target`` set, runs go on past ``runs`` until the
coefficient of variation of the last CV_WINDOW run durations is at most ``cv_target``,
or ``max_runs`` is reached (then ``converged`` is False and a warning says so).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import attrs

from llem.config.schema import GenerationConfig, WarmupConfig
from llem.interfaces import Request
from llem.results.schema import WarmupOutcome

CV_WINDOW = 3


def warmup_requests(
    requests: Sequence[Request], gen: GenerationConfig, cfg: WarmupConfig, batch_size: int | None
) -> tuple[list[Request], GenerationConfig]:
    """The requests (and generation settings) of one warmup run."""
    batch = list(requests[: max(1, batch_size or 1)])
    if cfg.mode == "fast":
        batch = [attrs.evolve(r, max_new_tokens=1) for r in batch]
        gen = attrs.evolve(gen, max_new_tokens=1, min_new_tokens=None)
    return batch, gen


def run_warmup(
    backend: Any,
    requests: Sequence[Request],
    gen: GenerationConfig,
    cfg: WarmupConfig,
    batch_size: int | None,
) -> WarmupOutcome:
    """Run the warmup and say how it went (durations in seconds)."""
    if cfg.runs == 0 and cfg.cv_target is None:
        return WarmupOutcome(runs=0, durations_s=(), cv=None, converged=None)
    batch, warm_gen = warmup_requests(requests, gen, cfg, batch_size)
    limit = cfg.max_runs if cfg.cv_target is not None else cfg.runs
    durations: list[float] = []
    converged: bool | None = None
    while len(durations) < limit:
        t0 = time.perf_counter()
        backend.generate(batch, warm_gen)
        backend.synchronize()
        durations.append(time.perf_counter() - t0)
        if cfg.cv_target is not None and len(durations) >= max(cfg.runs, CV_WINDOW):
            cv = coefficient_of_variation(durations[-CV_WINDOW:])
            if cv is not None and cv <= cfg.cv_target:
                converged = True
                break
    if cfg.cv_target is not None and converged is None:
        converged = False
    return WarmupOutcome(
        runs=len(durations),
        durations_s=tuple(durations),
        cv=coefficient_of_variation(durations[-CV_WINDOW:]),
        converged=converged,
    )


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample standard deviation / mean; None for fewer than two values or a zero mean."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean == 0:
        return None
    return statistics.stdev(values) / mean
