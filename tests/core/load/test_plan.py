"""The serving plan: a trace's lengths override the dataset's; the warmup is its head."""

from __future__ import annotations

from pathlib import Path

from llem import Request
from llem.config.schema import LoadConfig
from llem.load.plan import serving_plan


def test_a_trace_sets_each_requests_lengths_and_its_send_times(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n0,5,3\n0.5,7,2\n")
    load = LoadConfig(mode="serving", arrival="trace", trace=str(trace))
    requests = [Request(i, None, (1,) * 4, 16) for i in range(10)]
    plan = serving_plan(load, requests, vocab_size=50)
    assert [len(r.input_ids) for r in plan.requests] == [5, 7]
    assert [r.max_new_tokens for r in plan.requests] == [3, 2]
    assert [a.at_s for a in plan.arrivals] == [0.0, 0.5]
    assert plan.offered_rate_rps == 2.0


def test_the_warmup_sends_the_first_requests_before_its_time_limit() -> None:
    load = LoadConfig(mode="serving", arrival="constant", rate=10.0, warmup_requests=5)
    plan = serving_plan(load, [Request(i, None, (1,), 4) for i in range(20)], 50)
    warm = plan.warmup(LoadConfig(mode="serving", rate=10.0, warmup_requests=5, warmup_s=0.25))
    assert [r.id for r in warm.requests] == [0, 1, 2]
    closed = LoadConfig(mode="serving", arrival="concurrency", concurrency=2)
    cplan = serving_plan(closed, [Request(i, None, (1,), 4) for i in range(20)], 50)
    assert (
        cplan.arrivals is None
        and cplan.concurrency == 2
        and len(cplan.warmup(closed).requests) == 8
    )
