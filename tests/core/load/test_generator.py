"""The load generator drives Backend.stream on one event loop, open and closed loop."""

from __future__ import annotations

import asyncio

from llem import Backend, Request, TokenChunk
from llem.config.schema import GenerationConfig
from llem.load.arrivals import Arrival
from llem.load.generator import ServingLoop


class Streaming(Backend):
    """Tokens every ``gap_s``; counts how many streams are open at once."""

    name = "streaming-test"
    serves = True

    def __init__(self, gap_s: float = 0.002, fail_id: int | None = None) -> None:
        super().__init__()
        self.gap_s, self.fail_id = gap_s, fail_id
        self.open = self.most_open = 0
        self.calls: list[str] = []

    async def start_serving(self, gen):  # type: ignore[no-untyped-def]
        self.calls.append("start")

    async def stream(self, request, gen):  # type: ignore[no-untyped-def]
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            for i in range(request.max_new_tokens):
                await asyncio.sleep(self.gap_s)
                if request.id == self.fail_id:
                    raise RuntimeError("engine said no")
                yield TokenChunk(1, i == request.max_new_tokens - 1, input_tokens=7)
        finally:
            self.open -= 1

    async def stop_serving(self) -> None:
        self.calls.append("stop")


def requests(n: int, tokens: int = 4) -> list[Request]:
    return [Request(i, None, (1, 2, 3), tokens) for i in range(n)]


def test_open_loop_sends_at_the_planned_times_and_records_every_token():
    backend = Streaming()
    loop = ServingLoop(backend, GenerationConfig())
    loop.start()
    run = loop.run(requests(20), [Arrival(i * 0.005) for i in range(20)])
    loop.close()
    assert backend.calls == ["start", "stop"]
    assert len(run.served) == 20 and all(s.ok for s in run.served)
    errors_ms = [(s.record.t_submit_ns - s.planned_ns) / 1e6 for s in run.served]
    assert all(-0.01 <= e < 5.0 for e in errors_ms)  # never early; late by the loop at most
    r = run.served[3].record
    assert r.output_tokens == 4 and len(r.token_times_ns) == 4 and r.input_tokens == 7
    assert r.t_submit_ns < r.t_first_token_ns <= r.token_times_ns[-1] <= r.t_end_ns
    assert r.timing_source == "stream"


def test_closed_loop_keeps_exactly_n_in_flight():
    backend = Streaming()
    loop = ServingLoop(backend, GenerationConfig())
    loop.start()
    run = loop.run(requests(30), None, concurrency=5)
    loop.close()
    assert backend.most_open == 5 and len(run.served) == 30
    assert all(s.planned_ns is None for s in run.served) and run.concurrency == 5


def test_closed_loop_stops_sending_at_its_duration():
    loop = ServingLoop(Streaming(gap_s=0.01), GenerationConfig())
    loop.start()
    run = loop.run(requests(1000), None, concurrency=2, duration_s=0.2)
    loop.close()
    assert 4 <= len(run.served) < 30


def test_a_stream_that_raises_is_recorded_as_failed_and_the_rest_go_on():
    loop = ServingLoop(Streaming(fail_id=2), GenerationConfig())
    loop.start()
    run = loop.run(requests(5), [Arrival(0.0)] * 5)
    loop.close()
    failed = [s for s in run.served if not s.ok]
    assert [s.record.request_id for s in failed] == [2]
    assert failed[0].error == "RuntimeError: engine said no" and failed[0].record.output_tokens == 0
    assert sum(s.ok for s in run.served) == 4
