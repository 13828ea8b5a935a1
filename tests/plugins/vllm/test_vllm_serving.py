"""VllmBackend serving through the fake AsyncLLM: concurrent streams on one event loop,
continuous batching, cancellation, errors, repeated windows on one engine, engine steps."""

from __future__ import annotations

import asyncio
import time

import pytest
from llem.config.schema import ExperimentConfig, GenerationConfig, LoadConfig
from llem.errors import ExperimentFailed
from llem.interfaces import Request
from llem.testing import check_records, synthetic_requests
from llem_vllm.backend import VllmBackend
from llem_vllm.config import VllmConfig
from llem_vllm.steps import SOURCE_DETAILS
from llem_vllm_testutil import fake_devices, tiny_model

pytestmark = pytest.mark.usefixtures("fake_vllm")
GEN = GenerationConfig(max_new_tokens=5)


SERVING = LoadConfig(mode="serving", arrival="poisson", rate=4.0)
OFFLINE = LoadConfig()


def experiment(section: VllmConfig | None = None, load: LoadConfig = OFFLINE) -> ExperimentConfig:
    return ExperimentConfig(
        model=tiny_model(),
        backend="vllm",
        weights="random",
        sections={"vllm": section or VllmConfig()},
        generation=GEN,
        load=load,
    )


@pytest.fixture
def serving():
    """Load a backend for an experiment with load.mode serving; closed afterwards."""
    made = []

    def load(section: VllmConfig | None = None) -> VllmBackend:
        b = VllmBackend(section)
        b.load(experiment(section, SERVING), fake_devices(1))
        made.append(b)
        return b

    yield load
    for b in made:
        b.close()


def requests(n: int, prompt_len: int = 8, vocab: int = 1000) -> list[Request]:
    return synthetic_requests(n, prompt_len, GEN.max_new_tokens, vocab)


async def collect(backend: VllmBackend, request: Request) -> list:
    return [chunk async for chunk in backend.stream(request, GEN)]


async def serve(backend: VllmBackend, reqs: list[Request]) -> list[list]:
    await backend.start_serving(GEN)
    try:
        return list(await asyncio.gather(*(collect(backend, r) for r in reqs)))
    finally:
        await backend.stop_serving()


def test_concurrent_streams_deliver_every_token_in_order_and_end_finished(serving):
    backend = serving()
    reqs = requests(12, vocab=backend.vocab_size)
    t0 = time.perf_counter_ns()
    streams = asyncio.run(serve(backend, reqs))
    t1 = time.perf_counter_ns()
    for chunks in streams:
        assert sum(c.new_tokens for c in chunks) == GEN.max_new_tokens
        assert [c.finished for c in chunks] == [False] * (len(chunks) - 1) + [True]
        assert chunks[0].input_tokens == 8
        times = [c.t_ns for c in chunks]
        assert times == sorted(times) and t0 < times[0] and times[-1] < t1


def test_no_more_requests_run_at_once_than_max_num_seqs(serving):
    backend = serving(VllmConfig(max_num_seqs=2))
    backend.engine_steps()
    asyncio.run(serve(backend, requests(6, vocab=backend.vocab_size)))
    steps = backend.engine_steps()
    # a step runs at most 2 sequences: new ones (8 prompt tokens each) plus decoding ones
    assert steps and all(s.prefill_tokens // 8 + s.decode_tokens <= 2 for s in steps)
    assert sum(s.prefill_tokens for s in steps) == 6 * 8


def test_engine_steps_count_prompt_and_generated_tokens_of_every_step(serving):
    backend = serving()
    backend.engine_steps()
    asyncio.run(serve(backend, requests(4, vocab=backend.vocab_size)))
    steps = backend.engine_steps()
    assert backend.steps.source == SOURCE_DETAILS
    assert sum(s.prefill_tokens for s in steps) == 4 * 8
    # the first token of each request comes from its prefill step
    assert sum(s.decode_tokens for s in steps) == 4 * (GEN.max_new_tokens - 1)
    assert [s.t_end_ns for s in steps] == sorted(s.t_end_ns for s in steps)
    assert backend.engine_steps() == []  # drained


def test_a_cancelled_stream_is_aborted_in_the_engine_and_others_finish(serving, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_VLLM_STEP_S", "0.01")
    backend = serving()
    long = Request(id=99, prompt=None, input_ids=(1, 2, 3), max_new_tokens=1000)
    others = requests(3, vocab=backend.vocab_size)

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
        await asyncio.sleep(0.1)
        await backend.stop_serving()
        return done, len(seen)

    done, seen = asyncio.run(scenario())
    assert all(sum(c.new_tokens for c in chunks) == GEN.max_new_tokens for chunks in done)
    assert 0 < seen < 1000
    assert not backend.serving.engine.engine_core.engine.has_unfinished_requests()


def test_a_bad_request_fails_alone_with_vllms_message(serving):
    backend = serving()
    bad = Request(id=7, prompt=None, input_ids=(backend.vocab_size + 5,), max_new_tokens=3)

    async def scenario() -> tuple[BaseException | list, list]:
        await backend.start_serving(GEN)
        results = await asyncio.gather(
            collect(backend, bad),
            collect(backend, requests(1, vocab=backend.vocab_size)[0]),
            return_exceptions=True,
        )
        await backend.stop_serving()
        return results[0], results[1]

    failed, fine = asyncio.run(scenario())
    assert isinstance(failed, ExperimentFailed) and "out of vocabulary" in str(failed)
    assert sum(c.new_tokens for c in fine) == GEN.max_new_tokens


def test_one_loaded_engine_serves_window_after_window_on_fresh_event_loops(serving):
    backend = serving()
    engine = backend.serving.engine
    for _ in range(3):  # the core runs each window with its own asyncio.run
        streams = asyncio.run(serve(backend, requests(3, vocab=backend.vocab_size)))
        assert [sum(c.new_tokens for c in s) for s in streams] == [GEN.max_new_tokens] * 3
    assert backend.serving.engine is engine


def test_streaming_never_blocks_the_callers_event_loop(serving, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_VLLM_STEP_S", "0.02")  # a slow "GPU"
    backend = serving()

    async def scenario() -> float:
        worst = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                worst = max(worst, time.perf_counter() - t - 0.001)

        tick = asyncio.ensure_future(ticker())
        await serve(backend, requests(16, vocab=backend.vocab_size))
        stop.set()
        await tick
        return worst

    assert asyncio.run(scenario()) < 0.015  # a blocking step would show as >= 20 ms


def test_offline_generate_works_on_a_serving_engine(serving):
    backend = serving()
    reqs = requests(5, vocab=backend.vocab_size)
    t0 = time.perf_counter_ns()
    records = backend.generate(reqs, GEN)
    check_records(reqs, records, GEN, t0, time.perf_counter_ns())


def test_an_engine_loaded_for_offline_work_is_swapped_for_an_async_one_to_serve():
    from vllm import _llem_fake

    backend = VllmBackend()
    backend.load(experiment(), fake_devices(1))
    try:
        streams = asyncio.run(serve(backend, requests(2, vocab=backend.vocab_size)))
        assert [sum(c.new_tokens for c in s) for s in streams] == [GEN.max_new_tokens] * 2
        assert backend.llm is None and backend.serving is not None
        assert _llem_fake.live_engines() == 1  # the offline engine was shut down first
        assert "restart_for_serving_s" in backend.load_details
    finally:
        backend.close()


def test_serving_before_load_fails_clearly():
    with pytest.raises(ExperimentFailed, match="before load"):
        asyncio.run(VllmBackend().start_serving(GEN))


def test_offline_generate_reports_engine_steps_too():
    backend = VllmBackend()
    backend.load(experiment(), fake_devices(1))
    try:
        backend.engine_steps()
        backend.generate(requests(4, vocab=backend.vocab_size), GEN)
        steps = backend.engine_steps()
        assert sum(s.prefill_tokens for s in steps) == 4 * 8
        assert sum(s.decode_tokens for s in steps) == 4 * (GEN.max_new_tokens - 1)
    finally:
        backend.close()


def test_without_request_metrics_a_serving_engine_reports_no_steps(serving):
    backend = serving(VllmConfig(request_metrics=False))
    asyncio.run(serve(backend, requests(2, vocab=backend.vocab_size)))
    assert backend.engine_steps() is None


def test_without_request_metrics_an_offline_engine_reports_no_steps():
    backend = VllmBackend(VllmConfig(request_metrics=False))
    backend.load(experiment(VllmConfig(request_metrics=False)), fake_devices(1))
    try:
        backend.generate(requests(2, vocab=backend.vocab_size), GEN)
        assert backend.engine_steps() is None
    finally:
        backend.close()


def test_close_shuts_the_async_engine_down_and_frees_its_memory(serving):
    from vllm import _llem_fake

    backend = serving()
    assert _llem_fake.live_engines() == 1
    backend.close()
    assert _llem_fake.live_engines() == 0
    assert not backend.serving
    again = serving()  # the memory is back: a second engine starts
    assert again.vocab_size == backend.vocab_size
