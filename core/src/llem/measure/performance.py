"""Throughput and latency of the window, from the backend's RequestRecords.

- tokens/s: all output tokens / window duration; requests/s likewise.
- TTFT: t_first_token - t_submit per request.
- TPOT: (t_end - t_first_token) / (output_tokens - 1) per request with at least two
  output tokens -- the mean gap between consecutive tokens of that request.
- ITL: every gap between consecutive token times of every request where the backend
  gives per-token times (``token_times_ns``); else the requests' TPOTs.
- latency: t_end - t_submit per request (end to end).
- queueing delay: engine scheduled - sent per request, where the engine reports when
  its scheduler took the request in (serving); None otherwise.
Statistics are mean and the 50th/90th/99th percentiles (linear interpolation between
order statistics, numpy's default). A quantity no request could time is None.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from llem.interfaces import RequestRecord
from llem.results.schema import LatencyStats, Performance, Workload

NONE_STATS = LatencyStats(None, None, None, None)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = (len(sorted_values) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(sorted_values[low])
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low))


def latency_stats(values: Sequence[float]) -> LatencyStats:
    if not values:
        return NONE_STATS
    ordered = sorted(values)
    return LatencyStats(
        mean=statistics.fmean(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
    )


def performance(
    records: Sequence[RequestRecord],
    window_s: float,
    scheduled_ns: Mapping[int, int | None] | None = None,
) -> Performance:
    """``scheduled_ns``: by request id, when the engine scheduled it (serving)."""
    out_tokens = sum(r.output_tokens for r in records)
    ttft, tpot, gaps, latency = [], [], [], []
    for r in records:
        latency.append((r.t_end_ns - r.t_submit_ns) / 1e9)
        if r.t_first_token_ns is None:
            continue
        ttft.append((r.t_first_token_ns - r.t_submit_ns) / 1e9)
        if r.output_tokens > 1:
            tpot.append((r.t_end_ns - r.t_first_token_ns) / 1e9 / (r.output_tokens - 1))
        times = r.token_times_ns
        if times and len(times) > 1:
            gaps += [(b - a) / 1e9 for a, b in zip(times, times[1:], strict=False)]
    queue = [
        (t - r.t_submit_ns) / 1e9
        for r in records
        if (t := (scheduled_ns or {}).get(r.request_id)) is not None
    ]
    sources = sorted({r.timing_source for r in records}) or ["measured"]
    return Performance(
        duration_s=window_s,
        tokens_per_second=out_tokens / window_s if window_s > 0 else 0.0,
        requests_per_second=len(records) / window_s if window_s > 0 else 0.0,
        ttft_s=latency_stats(ttft),
        itl_s=latency_stats(gaps or tpot),
        latency_s=latency_stats(latency),
        timing_source="+".join(sources),
        tpot_s=latency_stats(tpot),
        queue_s=latency_stats(queue) if queue else None,
    )


def workload(dataset_name: str, records: Sequence[RequestRecord]) -> Workload:
    n = len(records)
    inp = sum(r.input_tokens for r in records)
    out = sum(r.output_tokens for r in records)
    return Workload(
        dataset=dataset_name,
        num_prompts=n,
        input_tokens=inp,
        output_tokens=out,
        mean_input_tokens=inp / n if n else 0.0,
        mean_output_tokens=out / n if n else 0.0,
    )
