"""Per-request times from vLLM's request metrics, on llem's clock (perf_counter_ns).

vLLM's ``RequestOutput.metrics`` is a ``RequestStateStats`` (when ``LLM`` is built with
``disable_log_stats=False``) with two clocks:

- ``arrival_time``: ``time.time()`` in the frontend (this process) when the request was
  added -> ``t_submit``;
- ``first_token_ts`` / ``last_token_ts``: ``time.monotonic()`` in the engine core
  (a child process) when the step that produced the first / last token finished ->
  ``t_first_token`` / ``t_end``. CLOCK_MONOTONIC is system-wide on Linux, so stamps
  from the child compare with this process's.

Each clock is mapped onto ``time.perf_counter_ns()`` by an offset measured right before
the generate call (the read pair with the smallest bracket wins). Where the metrics are
missing, the record says so in ``timing_source`` and derives its times from the call.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
from llem.plugin import Request, RequestRecord, offset_ns

SOURCE_METRICS = (
    "vllm RequestStateStats: t_submit=arrival_time (time.time, frontend), "
    "t_first_token=first_token_ts, t_end=last_token_ts (time.monotonic, engine core); "
    "mapped to perf_counter_ns by offsets measured at each generate call"
)
SOURCE_DERIVED = (
    "derived: vLLM returned no request metrics (RequestOutput.metrics is None: "
    "disable_log_stats or vllm.request_metrics=false); t_submit=start and t_end=return "
    "of the llm.generate call for every request; no first-token time"
)


@attrs.frozen
class ClockOffsets:
    """How to move a wall-clock or monotonic stamp (seconds) onto perf_counter_ns."""

    wall_ns: int
    monotonic_ns: int

    @classmethod
    def measure(cls) -> ClockOffsets:
        return cls(offset_ns(time.time_ns), offset_ns(time.monotonic_ns))

    def from_wall(self, seconds: float) -> int:
        return round(seconds * 1e9) + self.wall_ns

    def from_monotonic(self, seconds: float) -> int:
        return round(seconds * 1e9) + self.monotonic_ns


def _has_times(metrics: Any) -> bool:
    return metrics is not None and all(
        (getattr(metrics, name, 0.0) or 0.0) > 0.0
        for name in ("arrival_time", "first_token_ts", "last_token_ts")
    )


def record_from_output(
    request: Request,
    output: Any,
    clocks: ClockOffsets,
    call_start_ns: int,
    call_end_ns: int,
) -> RequestRecord:
    """One RequestRecord from one vLLM RequestOutput (same position in the workload)."""
    completion = output.outputs[0]
    prompt_ids = output.prompt_token_ids
    input_tokens = len(prompt_ids) if prompt_ids is not None else len(request.input_ids or ())
    output_tokens = len(completion.token_ids)
    metrics = output.metrics
    if not _has_times(metrics):
        return RequestRecord(
            request.id,
            input_tokens,
            output_tokens,
            call_start_ns,
            None,
            call_end_ns,
            timing_source=SOURCE_DERIVED,
        )
    first = clocks.from_monotonic(metrics.first_token_ts)
    end = clocks.from_monotonic(metrics.last_token_ts)
    # arrival comes from the other clock; a sub-microsecond offset error must not put it
    # after the first token or before the call.
    submit = min(max(clocks.from_wall(metrics.arrival_time), call_start_ns), first)
    return RequestRecord(
        request.id, input_tokens, output_tokens, submit, first, end, timing_source=SOURCE_METRICS
    )
