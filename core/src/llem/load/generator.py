"""The load generator: one asyncio event loop in the worker drives ``Backend.stream``.

Open loop (poisson, gamma, constant, trace): one scheduler coroutine sends each request
at its planned time and starts a task that consumes its stream; it never waits for a
request to finish, so a slow engine shows up as queueing, not as late sends. Closed loop
(``concurrency``): N coroutines each send their next request the moment the previous
one ends, so N requests are in flight until the requests (or ``duration_s``) run out.

Timing: every time is ``time.perf_counter_ns()``, the telemetry sampler's clock. The
send time is stamped just before ``stream`` is called and is the request's
``t_submit_ns``; the stream is closed (``aclose``) as soon as its last chunk
arrives, so the backend's clean-up runs at once; each chunk is stamped when the loop
receives it (or carries the engine's own ``t_ns``), and every token of a chunk gets
that time. To keep the send
error small the scheduler sleeps on the loop until ``SPIN_S`` before the planned time
(the loop's sleeps are late by up to a millisecond: epoll rounds its timeout up to
whole milliseconds), lets what became ready run, then sleeps the thread (``time.sleep``)
until ``NAP_MARGIN_S`` before and spins the rest. A sleeping thread is woken on time on a
busy machine, a spinning one is preempted (measured: bench/results/load_timing.md); the
price is that the loop is held for at most ~1 ms before a send, which delays the
arrival stamp of chunks that carry no ``t_ns`` of their own by as much.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
from llem.interfaces import Backend, Request, RequestRecord
from llem.load.arrivals import Arrival

SPIN_S = 0.0012
NAP_MARGIN_S = 0.00015


@attrs.frozen
class Served:
    """One request as the generator saw it: its record, when it was planned to be sent
    (None in a closed loop) and, if the stream raised, the error."""

    record: RequestRecord
    planned_ns: int | None
    error: str | None = None
    t_scheduled_ns: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class LoadRun:
    """What the generator did: every request it sent, when it started and ended."""

    served: tuple[Served, ...]
    t_start_ns: int
    t_end_ns: int
    concurrency: int | None = None


class ServingLoop:
    """The worker's serving event loop around one backend: ``start`` (the backend's
    ``start_serving``), any number of ``run`` calls (warmup, the window), ``close``
    (``stop_serving``, then the loop closes). Runs in the calling thread."""

    def __init__(self, backend: Backend, gen: Any) -> None:
        self.backend = backend
        self.gen = gen
        self.loop = asyncio.new_event_loop()
        self.started = False

    def start(self) -> None:
        self.loop.run_until_complete(self.backend.start_serving(self.gen))
        self.started = True

    def run(
        self,
        requests: Sequence[Request],
        arrivals: Sequence[Arrival] | None,
        *,
        concurrency: int | None = None,
        duration_s: float | None = None,
    ) -> LoadRun:
        """Send ``requests`` at ``arrivals`` (open loop) or ``concurrency`` at a time
        (closed loop, ``arrivals`` None) and wait until every one has ended."""
        driver = _Driver(self.backend, self.gen)
        if arrivals is None:
            work = driver.closed(requests, concurrency or 1, duration_s)
        else:
            work = driver.open(requests[: len(arrivals)], arrivals)
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        try:
            if self.started:
                self.loop.run_until_complete(self.backend.stop_serving())
        finally:
            _cancel_pending(self.loop)
            self.loop.close()


class _Driver:
    def __init__(self, backend: Backend, gen: Any) -> None:
        self.backend = backend
        self.gen = gen
        self.served: list[Served] = []

    async def open(self, requests: Sequence[Request], arrivals: Sequence[Arrival]) -> LoadRun:
        t0 = time.perf_counter_ns()
        tasks = []
        for request, arrival in zip(requests, arrivals, strict=True):
            planned = t0 + int(arrival.at_s * 1e9)
            await _until(planned)
            tasks.append(asyncio.ensure_future(self.one(request, planned)))
        await asyncio.gather(*tasks)
        return self._outcome(t0, None)

    async def closed(
        self, requests: Sequence[Request], concurrency: int, duration_s: float | None
    ) -> LoadRun:
        t0 = time.perf_counter_ns()
        deadline = None if duration_s is None else t0 + int(duration_s * 1e9)
        queue = iter(requests)

        async def lane() -> None:
            for request in _until_deadline(queue, deadline):
                await self.one(request, None)

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return self._outcome(t0, concurrency)

    async def one(self, request: Request, planned_ns: int | None) -> None:
        """Send ``request`` now and consume its stream into a Served record."""
        times: list[int] = []
        input_tokens: int | None = None
        scheduled: int | None = None
        error: str | None = None
        t_submit = time.perf_counter_ns()
        try:
            stream = self.backend.stream(request, self.gen)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for chunk in stream:
                    t = chunk.t_ns if chunk.t_ns is not None else time.perf_counter_ns()
                    times.extend([t] * chunk.new_tokens)
                    input_tokens = chunk.input_tokens or input_tokens
                    scheduled = chunk.t_scheduled_ns or scheduled
                    if chunk.finished:
                        break
        except Exception as exc:  # the request failed; the run goes on
            error = f"{type(exc).__name__}: {exc}"
        t_end = max(time.perf_counter_ns(), times[-1] if times else 0)
        record = RequestRecord(
            request_id=request.id,
            input_tokens=input_tokens or (len(request.input_ids or ()) if request.input_ids else 0),
            output_tokens=len(times),
            t_submit_ns=t_submit,
            t_first_token_ns=times[0] if times else None,
            t_end_ns=t_end,
            token_times_ns=tuple(times),
            timing_source="stream",
        )
        self.served.append(Served(record, planned_ns, error, scheduled))

    def _outcome(self, t0: int, concurrency: int | None) -> LoadRun:
        ordered = sorted(self.served, key=lambda s: s.record.t_submit_ns)
        return LoadRun(tuple(ordered), t0, time.perf_counter_ns(), concurrency)


def _until_deadline(requests: Iterator[Request], deadline_ns: int | None) -> Iterator[Request]:
    for request in requests:
        if deadline_ns is not None and time.perf_counter_ns() >= deadline_ns:
            return
        yield request


async def _until(planned_ns: int) -> None:
    """Return at ``planned_ns``: sleep until SPIN_S before it, then yield to the loop."""
    left = (planned_ns - time.perf_counter_ns()) / 1e9
    if left > SPIN_S:
        await asyncio.sleep(left - SPIN_S)
    await asyncio.sleep(0)  # what became ready meanwhile (other streams' chunks) runs first
    left = (planned_ns - time.perf_counter_ns()) / 1e9
    if left > NAP_MARGIN_S:
        time.sleep(left - NAP_MARGIN_S)  # a sleeping thread wakes on time; a spinning one
    while time.perf_counter_ns() < planned_ns:  # is preempted on a busy machine
        pass


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
