"""Who used the window's energy: prefill vs decode work, and each request.

One rule for offline and serving alike (stored with every result as
``Energy.phase_split_rule``):

1. Intervals. The window is cut at every telemetry sample (and at the edges of any
   sub-window asked for, e.g. the steady state). An interval's energy is the meter's
   GPU energy of the window (a CPU-only meter's total, where it measures no GPU)
   times the interval's share of the GPU power integrated over the window (summed over
   GPUs): sampled power (trapezoids), scaled in each stretch between two reads of the
   GPU's energy counter (the sampler reads it about once a second) to the counter's
   difference there (power samples glimpse a power that swings within 100 ms; the
   counter integrates it). With no power samples, an interval's share of the time.
   Intervals therefore add up to the meter's energy.
2. Work. A request's prompt is processed in the step that yields its first token: its
   ``input_tokens`` count as prefill work at ``t_first_token``. Every later token is one
   unit of decode work at its own time (``token_times_ns``; spread evenly between first
   token and end when the backend gives no per-token times). Prompt and generated tokens
   weigh the same (PREFILL_TOKEN_WEIGHT = 1: each costs ~2 x parameters FLOPs in the
   dense layers). Where the backend reports ``engine_steps()``, an interval's
   prefill/decode work comes from the steps that ended in it instead.
3. Split. An interval's energy goes to prefill and decode in proportion to their work in
   it, and each part to the requests that did that work, in proportion to their tokens.
   An interval with no work goes in equal shares to the requests in flight in it (as
   prefill for those still waiting for their first token, else decode); one with no
   request in flight is gap energy, spread over all requests in proportion to the
   energy they were given otherwise (so per-request energies add up to the window).
4. Idle. Each request's share of every interval also carries that share of the idle
   baseline (baseline power x interval), shown apart as its ``idle_j``.

Without first-token times the prefill/decode split is None (with the reason); the
per-request energies are still given, each request's work spread over its lifetime.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence

import attrs

from llem.interfaces import EngineStep, RequestRecord
from llem.telemetry.integrate import Counter, Point, anchored_j

PREFILL_TOKEN_WEIGHT = 1.0
RULE = (
    "per telemetry interval (energy = meter energy x share of sampled power, anchored to "
    "the energy counter read about every second): prefill vs "
    "decode in proportion to tokens processed in it (a prompt's tokens at its first token, "
    "each later token at its time; weight 1:1{source}); each part to the requests that "
    "processed those tokens; intervals without tokens to the requests in flight, without "
    "requests pro rata to all; idle = baseline power x time, shared the same way"
)


@attrs.frozen
class Attribution:
    rule: str | None
    prefill_j: float | None
    decode_j: float | None
    split_null_reason: str | None
    request_j: Mapping[int, float]  # by request id; adds up to the window's energy
    request_idle_j: Mapping[int, float]  # the baseline part of request_j
    gap_j: float | None  # energy of intervals with no request in flight
    idle_j: float | None  # baseline power x window
    intervals: tuple[tuple[int, int, float], ...] = ()  # (start_ns, end_ns, joules)
    null_reason: str | None = None

    def energy_between(self, a_ns: int, b_ns: int) -> float | None:
        """The energy of the intervals inside [a_ns, b_ns] (edges passed to ``attribute``)."""
        if self.null_reason is not None:
            return None
        return sum(e for s, t, e in self.intervals if s >= a_ns and t <= b_ns)


def null_attribution(reason: str) -> Attribution:
    return Attribution(None, None, None, reason, {}, {}, None, None, (), reason)


def attribute(
    records: Sequence[RequestRecord],
    power: Mapping[str, Sequence[Point]],
    window: tuple[int, int],
    gpu_j: float | None,
    *,
    baseline_w: float | None = None,
    steps: Sequence[EngineStep] | None = None,
    edges: Sequence[int] = (),
    counters: Mapping[str, Sequence[Counter]] | None = None,
) -> Attribution:
    """Attribute ``gpu_j`` over ``window`` (see the module docstring); ``counters`` are
    each GPU's energy-counter reads, by the same keys as ``power``."""
    if gpu_j is None:
        return null_attribution("no GPU energy was measured")
    if not records:
        return null_attribution("no requests ran in the window")
    intervals = _intervals(power, counters or {}, window, gpu_j, edges)
    work = _Work(records, window, steps or None)
    shares = _Shares(records)
    for a, b, energy in intervals:
        shares.add(a, b, energy, work, baseline_w)
    shares.spread_gaps()
    missing = sum(1 for r in records if r.t_first_token_ns is None)
    reason = (
        f"the backend reported no first-token time for {missing} of {len(records)} requests"
        if missing
        else None
    )
    source = "; phase work from the engine's scheduler steps" if steps else ""
    return Attribution(
        rule=RULE.format(source=source),
        prefill_j=None if reason else shares.phase["prefill"],
        decode_j=None if reason else shares.phase["decode"],
        split_null_reason=reason,
        request_j=dict(shares.energy),
        request_idle_j=dict(shares.idle) if baseline_w is not None else {},
        gap_j=shares.gap_total,
        idle_j=None if baseline_w is None else baseline_w * (window[1] - window[0]) / 1e9,
        intervals=tuple(intervals),
    )


def _intervals(
    power: Mapping[str, Sequence[Point]],
    counters: Mapping[str, Sequence[Counter]],
    window: tuple[int, int],
    gpu_j: float,
    edges: Sequence[int],
) -> list[tuple[int, int, float]]:
    t0, t1 = window
    cuts = {t0, t1, *(e for e in edges if t0 < e < t1)}
    for series in (*power.values(), *counters.values()):
        cuts.update(t for t, _ in series if t0 < t < t1)
    bounds = sorted(cuts)
    spans = list(zip(bounds, bounds[1:], strict=False))
    per_gpu = [anchored_j(p, counters.get(uuid, ()), spans) for uuid, p in power.items() if p]
    raw = [sum(column) for column in zip(*per_gpu, strict=True)] if per_gpu else []
    whole = sum(raw)
    if whole <= 0:  # no usable power: share by time
        raw, whole = [float(b - a) for a, b in spans], float(t1 - t0)
    return [(a, b, gpu_j * w / whole) for (a, b), w in zip(spans, raw, strict=True)]


class _Work:
    """Work units per phase and request, found by time with bisection."""

    def __init__(
        self,
        records: Sequence[RequestRecord],
        window: tuple[int, int],
        steps: Sequence[EngineStep] | None,
    ) -> None:
        points: list[tuple[int, str, int, float]] = []
        self.spans: list[tuple[int, int, str, int, float]] = []
        for r in records:
            self._add(r, points)
        points.sort(key=lambda p: p[0])
        self.points = points
        self.times = [p[0] for p in points]
        self.steps = _step_spans(steps, window[0]) if steps else None
        self.step_ends = [s[1] for s in self.steps] if self.steps else []

    def _add(self, r: RequestRecord, points: list[tuple[int, str, int, float]]) -> None:
        first = r.t_first_token_ns
        if first is None:
            units = float(max(r.input_tokens + r.output_tokens, 1))
            self.spans.append((r.t_submit_ns, r.t_end_ns, "decode", r.request_id, units))
            return
        points.append(
            (first, "prefill", r.request_id, max(r.input_tokens, 1) * PREFILL_TOKEN_WEIGHT)
        )
        times = r.token_times_ns
        if times and len(times) == r.output_tokens:
            points.extend((t, "decode", r.request_id, 1.0) for t in times[1:])
        elif r.output_tokens > 1:
            self.spans.append(
                (first, r.t_end_ns, "decode", r.request_id, float(r.output_tokens - 1))
            )

    def in_interval(self, a: int, b: int) -> dict[str, dict[int, float]]:
        """Work units per phase per request id in (a, b]."""
        out: dict[str, dict[int, float]] = {
            "prefill": defaultdict(float),
            "decode": defaultdict(float),
        }
        for _t, phase, rid, units in self.points[
            bisect_right(self.times, a) : bisect_right(self.times, b)
        ]:
            out[phase][rid] += units
        for s, e, phase, rid, units in self.spans:
            overlap = min(e, b) - max(s, a)
            if overlap > 0:
                out[phase][rid] += units * overlap / max(e - s, 1)
        return out

    def phase_totals(
        self, a: int, b: int, by_request: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        if self.steps is None:
            return {k: sum(v.values()) for k, v in by_request.items()}
        totals = {"prefill": 0.0, "decode": 0.0}
        for start, end, prefill, decode in self.steps[bisect_right(self.step_ends, a) :]:
            if start >= b:
                break
            share = (min(end, b) - max(start, a)) / max(end - start, 1)
            if share > 0:
                totals["prefill"] += prefill * PREFILL_TOKEN_WEIGHT * share
                totals["decode"] += decode * share
        return totals


def _step_spans(steps: Sequence[EngineStep], t0: int) -> list[tuple[int, int, int, int]]:
    """(start, end, prefill, decode) per step: a step runs from the previous step's end,
    but at most the median step duration back (an idle engine between steps)."""
    ordered = sorted(steps, key=lambda s: s.t_end_ns)
    ends = [s.t_end_ns for s in ordered]
    gaps = sorted(b - a for a, b in zip(ends, ends[1:], strict=False)) or [0]
    cap = max(gaps[len(gaps) // 2], 1)
    spans, previous = [], t0
    for step in ordered:
        start = max(previous, step.t_end_ns - cap)
        spans.append((start, step.t_end_ns, step.prefill_tokens, step.decode_tokens))
        previous = step.t_end_ns
    return spans


class _Shares:
    """Accumulates energy per request and per phase, interval by interval."""

    def __init__(self, records: Sequence[RequestRecord]) -> None:
        self.records = sorted(records, key=lambda r: r.t_submit_ns)
        self.submits = [r.t_submit_ns for r in self.records]
        self.energy: dict[int, float] = {r.request_id: 0.0 for r in records}
        self.idle: dict[int, float] = {r.request_id: 0.0 for r in records}
        self.phase = {"prefill": 0.0, "decode": 0.0}
        self.gap_total = 0.0
        self.gap_idle = 0.0

    def add(self, a: int, b: int, energy: float, work: _Work, baseline_w: float | None) -> None:
        idle = (baseline_w or 0.0) * (b - a) / 1e9
        by_request = work.in_interval(a, b)
        totals = work.phase_totals(a, b, by_request)
        whole = sum(totals.values())
        if whole <= 0:
            self._in_flight(a, b, energy, idle)
            return
        for phase, amount in totals.items():
            part = energy * amount / whole
            holders = by_request[phase] or self._holders(a, b, phase)
            if not holders:
                holders = by_request["decode" if phase == "prefill" else "prefill"]
            self._give(holders, part, idle * amount / whole, phase)

    def _in_flight(self, a: int, b: int, energy: float, idle: float) -> None:
        flying = self._flying(a, b)
        if not flying:
            self.gap_total += energy
            self.gap_idle += idle
            return
        for r in flying:
            waiting = r.t_first_token_ns is None or r.t_first_token_ns > (a + b) // 2
            self._give(
                {r.request_id: 1.0},
                energy / len(flying),
                idle / len(flying),
                "prefill" if waiting else "decode",
            )

    def _holders(self, a: int, b: int, phase: str) -> dict[int, float]:
        out = {}
        for r in self._flying(a, b):
            waiting = r.t_first_token_ns is None or r.t_first_token_ns > (a + b) // 2
            if waiting == (phase == "prefill"):
                out[r.request_id] = 1.0
        return out

    def _flying(self, a: int, b: int) -> list[RequestRecord]:
        return [r for r in self.records[: bisect_left(self.submits, b)] if r.t_end_ns > a]

    def _give(self, holders: Mapping[int, float], energy: float, idle: float, phase: str) -> None:
        weight = sum(holders.values())
        if weight <= 0:
            self.gap_total += energy
            self.gap_idle += idle
            return
        for rid, w in holders.items():
            self.energy[rid] += energy * w / weight
            self.idle[rid] += idle * w / weight
        self.phase[phase] += energy

    def spread_gaps(self) -> None:
        """Gap energy to every request in proportion to its energy (equally if none)."""
        if self.gap_total <= 0 and self.gap_idle <= 0:
            return
        given = sum(self.energy.values())
        n = len(self.energy)
        for rid, e in list(self.energy.items()):
            share = e / given if given > 0 else 1.0 / n
            self.energy[rid] += self.gap_total * share
            self.idle[rid] += self.gap_idle * share
        phases = sum(self.phase.values())
        for phase, e in list(self.phase.items()):
            self.phase[phase] += self.gap_total * (e / phases if phases > 0 else 0.5)
