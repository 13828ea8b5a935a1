"""The serving sections of a result, and the per-request table (``requests.parquet``).

- LoadOutcome: offered rate (``load.rate``; a trace's mean rate) beside the achieved
  one (requests sent / the span from first to last send), the generator's send error
  (actual - planned send time; open loop), failed requests, and the ``overloaded``
  test of llem.load.steady.
- WindowEnergy: the whole run and the steady state, each with the energy of the
  attribution intervals inside it, its output tokens (tokens whose time falls inside)
  and J/token.
- requests.parquet: one row per request (times in seconds from the window's start).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llem.config.schema import LoadConfig, SloConfig
from llem.interfaces import RequestRecord
from llem.load.generator import LoadRun
from llem.load.plan import Plan
from llem.load.slo import meets, request_latencies
from llem.load.steady import overloaded
from llem.measure.attribution import Attribution
from llem.measure.performance import latency_stats
from llem.results.schema import LoadOutcome, WindowEnergy

REQUESTS_NAME = "requests.parquet"


def load_outcome(load: LoadConfig, plan: Plan, run: LoadRun) -> LoadOutcome:
    served = run.served
    sends = sorted(s.record.t_submit_ns for s in served)
    span = (sends[-1] - sends[0]) / 1e9 if len(sends) > 1 else 0.0
    errors = [(s.record.t_submit_ns - s.planned_ns) / 1e6 for s in served if s.planned_ns]
    grew, early, late = (
        (False, None, None) if plan.arrivals is None else overloaded([s.record for s in served])
    )
    return LoadOutcome(
        mode="serving",
        arrival=load.arrival,
        offered_rate_rps=load.rate if load.arrival != "trace" else plan.offered_rate_rps,
        achieved_rate_rps=(len(sends) - 1) / span if span > 0 else None,
        concurrency=plan.concurrency,
        requests_sent=len(served),
        requests_failed=sum(1 for s in served if not s.ok),
        send_error_ms=latency_stats(errors) if errors else None,
        send_error_max_ms=max(errors) if errors else None,
        overloaded=grew,
        in_flight_early=early,
        in_flight_late=late,
    )


def window_energy(
    kind: str,
    span: tuple[int, int] | None,
    window_t0_ns: int,
    records: Sequence[RequestRecord],
    attribution: Attribution,
    baseline_w: float | None,
    *,
    level: int | None = None,
    rule: str | None = None,
    reason: str | None = None,
) -> WindowEnergy:
    """The energy, tokens and J/token of ``span`` (None: no such window, ``reason``)."""
    if span is None:
        return WindowEnergy(kind, None, None, None, None, None, None, None, level, rule, reason)  # type: ignore[arg-type]
    a, b = span
    seconds = (b - a) / 1e9
    tokens = tokens_between(records, a, b)
    energy = attribution.energy_between(a, b)
    adjusted = energy - baseline_w * seconds if energy is not None and baseline_w else None
    return WindowEnergy(
        kind=kind,  # type: ignore[arg-type]
        start_s=(a - window_t0_ns) / 1e9,
        duration_s=seconds,
        energy_j=energy,
        adjusted_j=adjusted,
        output_tokens=tokens,
        energy_per_output_token_j=energy / tokens if energy is not None and tokens else None,
        tokens_per_second=tokens / seconds if seconds > 0 else None,
        level=level,
        rule=rule,
        null_reason=attribution.null_reason,
    )


def tokens_between(records: Sequence[RequestRecord], a: int, b: int) -> int:
    """Output tokens produced in (a, b]: per-token times, else spread evenly over each
    request's decode (its first token at t_first_token)."""
    total = 0.0
    for r in records:
        times = r.token_times_ns
        if times and len(times) == r.output_tokens:
            total += bisect_right(times, b) - bisect_right(times, a)
        elif r.t_first_token_ns is not None and r.output_tokens:
            first, end = r.t_first_token_ns, r.t_end_ns
            total += 1 if a < first <= b else 0
            if r.output_tokens > 1 and end > first:
                overlap = max(0, min(end, b) - max(first, a))
                total += (r.output_tokens - 1) * overlap / (end - first)
    return round(total)


def requests_columns(
    run: LoadRun, attribution: Attribution, slo: SloConfig, t0_ns: int
) -> dict[str, list[Any]]:
    """One row per request of ``run`` (times in seconds from the window's start)."""
    cols: dict[str, list[Any]] = {name: [] for name in REQUEST_COLUMNS}
    energy, idle = attribution.request_j, attribution.request_idle_j
    for s in run.served:
        r = s.record
        lat = request_latencies(r)
        row = {
            "request_id": r.request_id,
            "planned_s": None if s.planned_ns is None else (s.planned_ns - t0_ns) / 1e9,
            "arrival_s": (r.t_submit_ns - t0_ns) / 1e9,
            "first_token_s": _rel(r.t_first_token_ns, t0_ns),
            "finish_s": (r.t_end_ns - t0_ns) / 1e9,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "ttft_s": lat["ttft_s"],
            "tpot_s": lat["tpot_s"],
            "e2e_s": lat["e2e_s"],
            "queue_s": _rel(s.t_scheduled_ns, r.t_submit_ns),
            "energy_j": energy.get(r.request_id),
            "idle_j": idle.get(r.request_id),
            "met_slo": meets(lat, s.ok, slo),
            "error": s.error,
        }
        for name, value in row.items():
            cols[name].append(value)
    return cols


REQUEST_COLUMNS = (
    "request_id", "planned_s", "arrival_s", "first_token_s", "finish_s", "input_tokens",
    "output_tokens", "ttft_s", "tpot_s", "e2e_s", "queue_s", "energy_j", "idle_j",
    "met_slo", "error",
)  # fmt: skip


def write_requests(path: Path, columns: Mapping[str, list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(columns)), path)


def _rel(t_ns: int | None, origin_ns: int) -> float | None:
    return None if t_ns is None else (t_ns - origin_ns) / 1e9
