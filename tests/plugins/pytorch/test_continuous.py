"""Continuous batching with the real tiny model on the CPU: offline generate_batch and
serving through ContinuousBatchingManager (concurrent streams, cancellation, errors,
windows on fresh event loops)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from llem.config.schema import GenerationConfig
from llem.errors import ExperimentFailed
from llem.interfaces import Request
from llem.testing import check_records
from llem_pytorch import continuous
from llem_pytorch.config import PytorchConfig
from llem_pytorch.preflight import continuous_batching_problems

GEN = GenerationConfig(max_new_tokens=6)
CB = dict(max_batch_tokens=128, num_blocks=32)  # small: the CPU machine is shared


def _requests(n: int, *, max_new: int = 6, seed: int = 0) -> list[Request]:
    rng = random.Random(seed)
    return [
        Request(
            id=i,
            prompt=None,
            max_new_tokens=max_new,
            input_ids=tuple(rng.randrange(3, 512) for _ in range(rng.choice((4, 9, 16)))),
        )
        for i in range(n)
    ]


async def _collect(backend, request: Request) -> list:
    return [chunk async for chunk in backend.stream(request, GEN)]


async def _serve(backend, requests: list[Request]) -> list[list]:
    await backend.start_serving(GEN)
    try:
        return list(await asyncio.gather(*(_collect(backend, r) for r in requests)))
    finally:
        await backend.stop_serving()


def test_offline_continuous_batching_gives_one_timed_record_per_request(make_backend):
    backend = make_backend(continuous_batching=True, **CB)
    requests = _requests(5)
    t0 = time.perf_counter_ns()
    records = backend.generate(requests, GEN)
    check_records(requests, records, GEN, t0, time.perf_counter_ns())
    assert {r.timing_source for r in records} == {continuous.TIMING_SOURCE}
    for record in records:
        assert len(record.token_times_ns) == GEN.max_new_tokens
        assert list(record.token_times_ns) == sorted(record.token_times_ns)


def test_offline_continuous_batching_greedy_matches_static_batches(make_backend):
    requests = _requests(3)
    static = make_backend(batch_size=1)
    static.generate(requests, GEN)
    cb = make_backend(continuous_batching=True, **CB)
    cb.generate(requests, GEN)
    assert cb.outputs == static.outputs


def test_concurrent_streams_deliver_every_token_stamped_when_produced(make_backend):
    backend = make_backend(**CB)
    requests = _requests(6)
    t0 = time.perf_counter_ns()
    streams = asyncio.run(_serve(backend, requests))
    t1 = time.perf_counter_ns()
    for request, chunks in zip(requests, streams, strict=True):
        assert sum(c.new_tokens for c in chunks) == GEN.max_new_tokens
        assert [c.finished for c in chunks] == [False] * (len(chunks) - 1) + [True]
        assert chunks[0].input_tokens == len(request.input_ids)
        times = [c.t_ns for c in chunks]
        assert times == sorted(times) and t0 < times[0] < times[-1] < t1


def test_one_manager_serves_window_after_window_on_fresh_event_loops(make_backend):
    backend = make_backend(**CB)
    for seed in range(2):
        streams = asyncio.run(_serve(backend, _requests(3, seed=seed)))
        assert [sum(c.new_tokens for c in s) for s in streams] == [GEN.max_new_tokens] * 3
    assert backend.model._cached_continuous_batching_manager is not None


def test_a_cancelled_stream_is_cancelled_in_the_manager_and_others_finish(make_backend):
    backend = make_backend(**CB)
    long = Request(id=50, prompt=None, input_ids=(5, 6, 7), max_new_tokens=400)

    async def scenario() -> tuple[list, int]:
        await backend.start_serving(GEN)
        seen: list = []

        async def consume() -> None:
            async for chunk in backend.stream(long, GEN):
                seen.append(chunk)

        task = asyncio.ensure_future(consume())
        done = await asyncio.gather(*(_collect(backend, r) for r in _requests(2)))
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.stop_serving()  # returns: the long request no longer holds it
        return done, sum(c.new_tokens for c in seen)

    done, long_tokens = asyncio.run(scenario())
    assert all(sum(c.new_tokens for c in chunks) == GEN.max_new_tokens for chunks in done)
    assert 0 < long_tokens < 400


def test_stream_outside_a_serving_window_fails_clearly(make_backend):
    backend = make_backend(**CB)

    async def stray() -> None:
        await _collect(backend, _requests(1)[0])

    with pytest.raises(ExperimentFailed, match="outside start/stop_serving"):
        asyncio.run(stray())


def test_continuous_batching_fields_reach_transformers_config():
    config = continuous.cb_config(
        PytorchConfig(max_batch_tokens=256, use_cuda_graph=False, scheduler="prefill_first")
    )
    assert config.max_batch_tokens == 256
    assert config.use_cuda_graph is False
    assert config.scheduler_type == "prefill_first"


def test_bad_continuous_batching_values_are_rejected():
    with pytest.raises(ValueError, match="scheduler must be one of fifo, prefill_first"):
        PytorchConfig(scheduler="lifo")
    with pytest.raises(ValueError, match="torch_compile"):
        PytorchConfig(continuous_batching=True, torch_compile=True)


def test_a_minimum_length_with_end_tokens_is_refused_under_continuous_batching(make_cfg):
    gen = GenerationConfig(max_new_tokens=8, ignore_eos=False)
    problems = continuous_batching_problems(
        make_cfg(generation=gen), PytorchConfig(continuous_batching=True)
    )
    assert len(problems) == 1 and "min_new_tokens" in problems[0].message
    assert "ignore_eos: true" in problems[0].fix
    assert continuous_batching_problems(make_cfg(generation=gen), PytorchConfig()) == []


def test_a_request_the_model_cannot_run_fails_its_stream(make_backend):
    backend = make_backend(**CB)
    bad = Request(id=9, prompt=None, input_ids=(100_000,), max_new_tokens=3)  # vocab 512

    async def scenario() -> BaseException | list:
        await backend.start_serving(GEN)
        try:
            (result,) = await asyncio.gather(_collect(backend, bad), return_exceptions=True)
        finally:
            await backend.stop_serving()
        return result

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert isinstance(result, ExperimentFailed) and "transformers request 9-" in str(result)


def test_serving_mode_uses_continuous_batching_so_the_same_check_applies(make_cfg):
    from llem.config.schema import LoadConfig

    gen = GenerationConfig(max_new_tokens=8, ignore_eos=False)
    cfg = make_cfg(generation=gen, load=LoadConfig(mode="serving", rate=2.0))
    assert len(continuous_batching_problems(cfg, PytorchConfig())) == 1
