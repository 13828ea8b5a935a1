"""Per-request times from TensorRT-LLM's perf metrics, on llem's clock.

With ``return_perf_metrics`` each ``CompletionOutput.request_perf_metrics.timing_metrics``
holds ``arrival_time``, ``first_token_time`` and ``last_token_time`` as timedeltas of
the C++ ``std::chrono::steady_clock`` (CLOCK_MONOTONIC on Linux), mapped onto
``perf_counter_ns`` by an offset (``llem.measure.clock``) measured against
``tensorrt_llm.bindings.steady_clock_now()`` at each generate call.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from llem.plugin import Request, RequestRecord

SOURCE_METRICS = (
    "tensorrt_llm request_perf_metrics.timing_metrics: t_submit=arrival_time, "
    "t_first_token=first_token_time, t_end=last_token_time (C++ steady_clock); mapped "
    "to perf_counter_ns by an offset measured at each generate call"
)
SOURCE_DERIVED = (
    "derived: TensorRT-LLM returned no request_perf_metrics (return_perf_metrics off "
    "or unsupported); t_submit=start and t_end=return of the llm.generate call for every "
    "request; no first-token time"
)
_US = datetime.timedelta(microseconds=1)


def steady_now_ns() -> Callable[[], int]:
    """A reader of TensorRT-LLM's steady clock in ns (time.monotonic_ns without it)."""
    try:
        from tensorrt_llm.bindings import steady_clock_now
    except ImportError:
        return time.monotonic_ns
    return lambda: (steady_clock_now() // _US) * 1000


def record_from_output(
    request: Request, output: Any, offset_ns: int, call_start_ns: int, call_end_ns: int
) -> RequestRecord:
    completion = output.outputs[0]
    input_tokens = len(output.prompt_token_ids or request.input_ids or ())
    output_tokens = len(completion.token_ids or ())
    timing = getattr(getattr(completion, "request_perf_metrics", None), "timing_metrics", None)
    stamps: list[Any] = [
        getattr(timing, name, None)
        for name in ("arrival_time", "first_token_time", "last_token_time")
    ]
    if timing is None or not all(
        isinstance(s, datetime.timedelta) and s > datetime.timedelta(0) for s in stamps
    ):
        return RequestRecord(
            request.id,
            input_tokens,
            output_tokens,
            call_start_ns,
            None,
            call_end_ns,
            timing_source=SOURCE_DERIVED,
        )
    arrival, first, last = ((s // _US) * 1000 + offset_ns for s in stamps)
    return RequestRecord(
        request.id,
        input_tokens,
        output_tokens,
        min(max(arrival, call_start_ns), first),
        first,
        last,
        timing_source=SOURCE_METRICS,
    )
