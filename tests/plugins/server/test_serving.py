"""Serving mode: the core's load generator drives ``stream`` over HTTP, many requests in
flight on one event loop; token counts come from the server's usage report."""

from __future__ import annotations

import pytest
from llem.plugin import ExperimentFailed, Request
from llem_server_testutil import experiment, fake_section, requests_for

generator = pytest.importorskip("llem.load.generator")
arrivals_mod = pytest.importorskip("llem.load.arrivals")


def serve(backend, requests, gen, gaps_s=0.01):  # type: ignore[no-untyped-def]
    loop = generator.ServingLoop(backend, gen)
    loop.start()
    try:
        arrivals = [arrivals_mod.Arrival(at_s=i * gaps_s) for i in range(len(requests))]
        return loop.run(requests, arrivals)
    finally:
        loop.close()


def test_open_loop_requests_stream_concurrently_with_exact_token_counts(launched):
    section = fake_section("--step-ms", "10", "--max-batch", "16")
    cfg = experiment(section, num_requests=12, input_len=9, max_new_tokens=6)
    backend = launched(section, cfg)
    run = serve(backend, requests_for(backend, cfg), cfg.generation)
    assert [s.error for s in run.served] == [None] * 12
    for served in run.served:
        assert served.record.output_tokens == 6 and served.record.input_tokens == 9
    # every request was sent at its planned time, 10 ms apart, while others streamed
    overlap = sum(
        1
        for a, b in zip(run.served, run.served[1:], strict=False)
        if b.record.t_submit_ns < a.record.t_end_ns
    )
    assert overlap >= 6
    assert backend.details["client_tokens"] == 72
    assert backend.details["client_cpu_us_per_token"] > 0


def test_chat_api_counts_content_deltas_not_the_role_chunk(launched):
    section = fake_section(api="chat")
    cfg = experiment(section, num_requests=3, max_new_tokens=5)
    backend = launched(section, cfg)

    requests = [
        Request(id=i, prompt="hello there", input_ids=None, max_new_tokens=5) for i in range(3)
    ]
    run = serve(backend, requests, cfg.generation)
    assert [s.record.output_tokens for s in run.served] == [5, 5, 5]
    assert [s.record.input_tokens for s in run.served] == [11, 11, 11]


def test_a_server_crash_while_serving_fails_the_experiment(launched):
    section = fake_section("--crash-after-tokens", "15", "--step-ms", "10")
    cfg = experiment(section, num_requests=8, max_new_tokens=10)
    backend = launched(section, cfg)
    loop = generator.ServingLoop(backend, cfg.generation)
    loop.start()
    requests = requests_for(backend, cfg)
    run = loop.run(requests, [arrivals_mod.Arrival(at_s=0.02 * i) for i in range(8)])
    assert all("exited with code 17 during the run" in (s.error or "") for s in run.served)
    with pytest.raises(ExperimentFailed, match="crashing after 15 tokens"):
        loop.close()
