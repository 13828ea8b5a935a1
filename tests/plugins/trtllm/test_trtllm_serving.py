"""TrtllmBackend serving through the fake's LLM.generate_async(streaming=True):
concurrent streams, cancellation, errors, repeated windows, a free event loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from llem.config.schema import ExperimentConfig, GenerationConfig
from llem.errors import ExperimentFailed
from llem.interfaces import Request
from llem.testing import synthetic_requests
from llem_trtllm.backend import TrtllmBackend
from llem_trtllm.config import TrtllmConfig
from llem_trtllm_testutil import fake_devices

pytestmark = pytest.mark.usefixtures("fake_trtllm")
GEN = GenerationConfig(max_new_tokens=5)


@pytest.fixture
def backend():
    b = TrtllmBackend(TrtllmConfig())
    cfg = ExperimentConfig(
        model="builtin:tiny-llama",
        backend="trtllm",
        weights="random",
        sections={"trtllm": TrtllmConfig()},
        generation=GEN,
    )
    b.load(cfg, fake_devices(1))
    yield b
    b.close()


async def collect(backend: TrtllmBackend, request: Request) -> list:
    return [chunk async for chunk in backend.stream(request, GEN)]


async def serve(backend: TrtllmBackend, requests: list[Request]) -> list[list]:
    await backend.start_serving(GEN)
    try:
        return list(await asyncio.gather(*(collect(backend, r) for r in requests)))
    finally:
        await backend.stop_serving()


def test_concurrent_streams_deliver_every_token_and_end_finished(backend):
    requests = synthetic_requests(10, 8, GEN.max_new_tokens, backend.vocab_size)
    for _ in range(2):  # window after window, each on a fresh event loop
        streams = asyncio.run(serve(backend, requests))
        for chunks in streams:
            assert sum(c.new_tokens for c in chunks) == GEN.max_new_tokens
            assert [c.finished for c in chunks] == [False] * (len(chunks) - 1) + [True]
            assert chunks[0].input_tokens == 8


def test_token_ids_diff_adds_up_to_the_cumulative_token_ids(backend):
    requests = synthetic_requests(3, 8, GEN.max_new_tokens, backend.vocab_size)
    from tensorrt_llm import SamplingParams

    async def tokens() -> list[list[int]]:
        out = []
        for r in requests:
            sp = SamplingParams(max_tokens=5, min_tokens=5, ignore_eos=True, end_id=-1)
            result = backend.llm.generate_async(list(r.input_ids), sp, streaming=True)
            diffs = [list(o.outputs[0].token_ids_diff) async for o in result]
            assert sum(diffs, []) == result.outputs[0].token_ids
            out.append(result.outputs[0].token_ids)
        return out

    streamed = asyncio.run(tokens())
    assert all(len(t) == 5 for t in streamed)


def test_a_cancelled_stream_is_aborted_and_the_others_finish(backend, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_TRTLLM_STEP_S", "0.005")
    long = Request(id=42, prompt=None, input_ids=(1, 2, 3), max_new_tokens=1000)
    others = synthetic_requests(3, 8, GEN.max_new_tokens, backend.vocab_size)

    async def scenario() -> tuple[list, int]:
        await backend.start_serving(GEN)
        seen: list = []

        async def consume() -> None:
            async for chunk in backend.stream(long, GEN):
                seen.append(chunk)

        task = asyncio.ensure_future(consume())
        done = await asyncio.gather(*(collect(backend, r) for r in others))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.stop_serving()
        return done, sum(c.new_tokens for c in seen)

    done, long_tokens = asyncio.run(scenario())
    assert all(sum(c.new_tokens for c in chunks) == GEN.max_new_tokens for chunks in done)
    assert 0 < long_tokens < 1000


def test_a_bad_request_fails_alone_with_the_engines_message(backend):
    bad = Request(id=3, prompt=None, input_ids=(backend.vocab_size + 1,), max_new_tokens=3)
    good = synthetic_requests(1, 8, GEN.max_new_tokens, backend.vocab_size)[0]

    async def scenario() -> list:
        return list(
            await asyncio.gather(
                collect(backend, bad), collect(backend, good), return_exceptions=True
            )
        )

    failed, fine = asyncio.run(scenario())
    assert isinstance(failed, ExperimentFailed) and "Token ID out of range" in str(failed)
    assert sum(c.new_tokens for c in fine) == GEN.max_new_tokens


def test_streaming_never_blocks_the_callers_event_loop(backend, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_TRTLLM_STEP_S", "0.02")
    requests = synthetic_requests(8, 8, GEN.max_new_tokens, backend.vocab_size)

    async def scenario() -> float:
        worst, stop = 0.0, asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                worst = max(worst, time.perf_counter() - t - 0.001)

        tick = asyncio.ensure_future(ticker())
        await serve(backend, requests)
        stop.set()
        await tick
        return worst

    assert asyncio.run(scenario()) < 0.015


def test_serving_before_load_fails_clearly():
    with pytest.raises(ExperimentFailed, match="before load"):
        asyncio.run(TrtllmBackend(TrtllmConfig()).start_serving(GEN))
