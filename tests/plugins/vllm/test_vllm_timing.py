"""vLLM's request metrics (two clocks) land on perf_counter_ns in the right order."""

from __future__ import annotations

import time
from types import SimpleNamespace

from llem.interfaces import Request
from llem_vllm.timing import SOURCE_DERIVED, SOURCE_METRICS, ClockOffsets, record_from_output


def output(metrics, n_out=4, prompt=(1, 2, 3)):
    return SimpleNamespace(
        prompt_token_ids=list(prompt),
        metrics=metrics,
        outputs=[SimpleNamespace(token_ids=list(range(n_out)))],
    )


def test_offsets_map_now_onto_now():
    clocks = ClockOffsets.measure()
    before = time.perf_counter_ns()
    wall, mono = time.time(), time.monotonic()
    after = time.perf_counter_ns()
    assert before - 1_000_000 <= clocks.from_monotonic(mono) <= after + 1_000_000
    assert before - 1_000_000 <= clocks.from_wall(wall) <= after + 1_000_000


def test_metrics_give_submit_first_token_and_end():
    clocks = ClockOffsets.measure()
    t0 = time.perf_counter_ns()
    arrival, mono0 = time.time(), time.monotonic()
    stats = SimpleNamespace(
        arrival_time=arrival,
        first_token_ts=mono0 + 0.010,
        last_token_ts=mono0 + 0.050,
        num_generation_tokens=4,
    )
    rec = record_from_output(Request(7, None, (1, 2, 3), 4), output(stats), clocks, t0, t0 + 10**9)
    assert (rec.request_id, rec.input_tokens, rec.output_tokens) == (7, 3, 4)
    assert rec.timing_source == SOURCE_METRICS
    assert abs((rec.t_first_token_ns - rec.t_submit_ns) - 10_000_000) < 2_000_000
    assert abs((rec.t_end_ns - rec.t_first_token_ns) - 40_000_000) < 100_000


def test_an_arrival_stamp_after_the_first_token_is_clamped_to_it():
    clocks = ClockOffsets(wall_ns=0, monotonic_ns=0)
    stats = SimpleNamespace(arrival_time=5.0, first_token_ts=4.0, last_token_ts=6.0)
    rec = record_from_output(Request(0, None, (1,), 4), output(stats), clocks, 0, 10**10)
    assert rec.t_submit_ns == rec.t_first_token_ns == 4_000_000_000


def test_missing_metrics_are_said_and_derived_from_the_call():
    clocks = ClockOffsets(0, 0)
    for metrics in (None, SimpleNamespace(arrival_time=1.0, first_token_ts=0.0, last_token_ts=0.0)):
        rec = record_from_output(Request(0, None, (1,), 4), output(metrics), clocks, 100, 900)
        assert (rec.t_submit_ns, rec.t_first_token_ns, rec.t_end_ns) == (100, None, 900)
        assert rec.timing_source == SOURCE_DERIVED
        assert "RequestOutput.metrics is None" in rec.timing_source
