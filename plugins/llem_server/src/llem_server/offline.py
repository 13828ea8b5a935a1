"""Offline mode over HTTP: every request streamed at once, each turned into a record.

The server's own scheduler batches them, as it would a burst of clients. Any failed
request fails the experiment with the first error, or with the server's exit and log
when it died; nothing is returned half-measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from llem.plugin import ExperimentFailed, GenerationConfig, Request, RequestRecord


async def stream_all(
    backend: Any, requests: Sequence[Request], gen: GenerationConfig
) -> list[RequestRecord]:
    """``backend.stream`` for every request concurrently, between its ``start_serving``
    and ``stop_serving`` (on this, a private, event loop)."""
    await backend.start_serving(gen)
    try:
        results = await asyncio.gather(
            *(record(backend, r, gen) for r in requests), return_exceptions=True
        )
    finally:
        died, backend._died = backend._died, None  # reported here, not by stop_serving
        await backend.stop_serving()
    errors = [r for r in results if isinstance(r, BaseException)]
    if died or errors:
        first = died or f"{type(errors[0]).__name__}: {errors[0]}"
        raise ExperimentFailed(f"{len(errors)} of {len(requests)} requests failed; first: {first}")
    return [r for r in results if isinstance(r, RequestRecord)]


async def record(backend: Any, request: Request, gen: GenerationConfig) -> RequestRecord:
    """Stream one request; every token stamped when its chunk arrived."""
    t_submit = time.perf_counter_ns()
    times: list[int] = []
    input_tokens = None
    async for chunk in backend.stream(request, gen):
        now = time.perf_counter_ns() if chunk.t_ns is None else chunk.t_ns
        times += [now] * chunk.new_tokens
        input_tokens = chunk.input_tokens or input_tokens
    t_end = time.perf_counter_ns()
    if input_tokens is None:
        input_tokens = len(request.input_ids) if request.input_ids is not None else 0
    return RequestRecord(
        request_id=request.id,
        input_tokens=input_tokens,
        output_tokens=len(times),
        t_submit_ns=t_submit,
        t_first_token_ns=times[0] if times else None,
        t_end_ns=t_end,
        token_times_ns=tuple(times),
    )
