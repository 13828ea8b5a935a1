"""Attribution: intervals add up to the meter, work decides phase and request shares."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llem import RequestRecord
from llem.interfaces import EngineStep
from llem.measure.attribution import attribute

S = 1_000_000_000
MS = 1_000_000


def rec(rid, submit, first, end, inp=10, out=None, times=None):  # type: ignore[no-untyped-def]
    if times is None and first is not None and out:
        step = (end - first) // max(out - 1, 1)
        times = tuple(first + step * i for i in range(out))
    return RequestRecord(
        request_id=rid,
        input_tokens=inp,
        output_tokens=out if out is not None else len(times or ()),
        t_submit_ns=submit,
        t_first_token_ns=first,
        t_end_ns=end,
        token_times_ns=times,
    )


def flat(watts, t1, every=100 * MS):  # type: ignore[no-untyped-def]
    return [(t, watts) for t in range(0, t1 + 1, every)]


def test_a_static_batch_gives_prefill_its_interval_and_decode_the_rest():
    # prefill 0-1 s (first tokens at 1 s), then 10 decode tokens each up to 2 s
    records = [rec(i, 0, S, 2 * S, inp=100, out=11) for i in range(2)]
    power = {"g": flat(100.0, 2 * S)}
    a = attribute(records, power, (0, 2 * S), gpu_j=200.0)
    # the 1 s interval of prefill ends at the first tokens: its 100 J to prefill
    assert a.prefill_j == pytest.approx(100.0, rel=0.02)
    assert a.decode_j == pytest.approx(100.0, rel=0.02)
    assert a.request_j[0] == pytest.approx(100.0) and a.request_j[1] == pytest.approx(100.0)


def test_under_continuous_batching_prefill_is_what_its_tokens_did_not_every_waiting_moment():
    # the case: some request always waits for its first token, yet most work is decode
    records, t = [], 0
    for i in range(40):
        first = t + 50 * MS
        records.append(rec(i, t, first, first + 1 * S, inp=4, out=100))
        t += 25 * MS
    end = max(r.t_end_ns for r in records)
    a = attribute(records, {"g": flat(300.0, end, 10 * MS)}, (0, end), gpu_j=1000.0)
    # tokens: 160 prompt vs 3,960 generated (3.9 %); the old time-union rule said ~50 %
    # (some request waited for its first token through the whole first half)
    assert 0.03 < a.prefill_j / 1000.0 < 0.10
    assert a.prefill_j + a.decode_j == pytest.approx(1000.0)


def test_intervals_without_requests_are_spread_pro_rata_and_idle_is_shown_apart():
    records = [rec(0, 0, 100 * MS, S, out=10), rec(1, 3 * S, 3 * S + 100 * MS, 4 * S, out=10)]
    a = attribute(records, {"g": flat(80.0, 4 * S)}, (0, 4 * S), gpu_j=320.0, baseline_w=50.0)
    assert a.gap_j == pytest.approx(160.0, rel=0.02)  # 1-3 s: nothing in flight
    assert math.fsum(a.request_j.values()) == pytest.approx(320.0)
    assert a.idle_j == pytest.approx(200.0)
    assert math.fsum(a.request_idle_j.values()) == pytest.approx(200.0)


def test_engine_steps_decide_the_phase_split_when_the_backend_reports_them():
    records = [rec(0, 0, 500 * MS, S, out=5)]
    steps = [EngineStep(500 * MS, 0, 50), EngineStep(S, 0, 50)]  # the engine says: all decode
    a = attribute(records, {"g": flat(100.0, S)}, (0, S), gpu_j=100.0, steps=steps)
    assert a.prefill_j == pytest.approx(0.0) and a.decode_j == pytest.approx(100.0)
    assert "scheduler steps" in a.rule


def test_no_first_token_times_give_no_split_but_still_energy_per_request():
    records = [rec(0, 0, None, S, out=4, times=()), rec(1, 0, None, 2 * S, out=4, times=())]
    a = attribute(records, {"g": flat(100.0, 2 * S)}, (0, 2 * S), gpu_j=200.0)
    assert a.prefill_j is None and "no first-token time for 2 of 2" in a.split_null_reason
    assert math.fsum(a.request_j.values()) == pytest.approx(200.0)
    assert a.request_j[1] > a.request_j[0]


def test_no_power_samples_share_by_time_and_no_energy_gives_a_reason():
    records = [rec(0, 0, 100 * MS, S, out=3)]
    a = attribute(records, {}, (0, S), gpu_j=10.0)
    assert math.fsum(a.request_j.values()) == pytest.approx(10.0)
    none = attribute(records, {}, (0, S), gpu_j=None)
    assert none.request_j == {} and none.null_reason == "no GPU energy was measured"


def test_energy_between_sums_the_intervals_inside_the_edges():
    records = [rec(0, 0, 100 * MS, 4 * S, out=40)]
    a = attribute(records, {"g": flat(100.0, 4 * S)}, (0, 4 * S), 400.0, edges=(S + 5, 3 * S + 7))
    assert a.energy_between(S + 5, 3 * S + 7) == pytest.approx(200.0, rel=1e-6)


def test_the_energy_counter_corrects_power_samples_that_alias_a_fast_swing():
    # 0-5 s the GPU alternates 400 W / 100 W every 50 ms and the 100 ms samples always
    # catch the 400 W half; 5-10 s it draws a flat 250 W. Truth: 1250 J in each half.
    power = {"g": [(t, 400.0 if t < 5 * S else 250.0) for t in range(0, 10 * S + 1, 100 * MS)]}
    counters = {"g": [(t, 250 * t // MS) for t in range(0, 10 * S + 1, S)]}  # mJ at 250 W
    records = [rec(0, 0, 100 * MS, 10 * S, out=100)]
    edges = (5 * S + 500 * MS, 9 * S + 500 * MS)
    args = (records, power, (0, 10 * S), 2500.0)
    plain = attribute(*args, edges=edges).energy_between(*edges)
    anchored = attribute(*args, edges=edges, counters=counters).energy_between(*edges)
    assert anchored == pytest.approx(1000.0, rel=1e-3)  # 4 s at 250 W
    assert plain < 800.0  # sampled power alone hands the aliased half too much


request = st.tuples(
    st.integers(0, 5 * S),  # submit
    st.integers(0, 300 * MS),  # wait for the first token
    st.integers(0, 2 * S),  # decode time
    st.integers(1, 2000),  # input tokens
    st.integers(1, 200),  # output tokens
)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(request, min_size=1, max_size=30),
    watts=st.lists(st.floats(10.0, 700.0), min_size=2, max_size=80),
    gpu_j=st.floats(1.0, 1e5),
    baseline=st.one_of(st.none(), st.floats(0.0, 100.0)),
)
def test_per_request_energies_add_up_to_the_window_within_a_thousandth(
    requests, watts, gpu_j, baseline
):  # type: ignore[no-untyped-def]
    records = [
        rec(i, s, s + w, s + w + d, inp=n_in, out=n_out)
        for i, (s, w, d, n_in, n_out) in enumerate(requests)
    ]
    t1 = max(r.t_end_ns for r in records) + S
    every = max(t1 // len(watts), 1)
    power = {"g": [(i * every, w) for i, w in enumerate(watts)]}
    a = attribute(records, power, (0, t1), gpu_j, baseline_w=baseline)
    assert math.fsum(a.request_j.values()) == pytest.approx(gpu_j, rel=1e-3)
    assert a.prefill_j + a.decode_j == pytest.approx(gpu_j, rel=1e-3)
    assert all(e >= 0 for e in a.request_j.values())
    if baseline is not None:
        assert math.fsum(a.request_idle_j.values()) == pytest.approx(a.idle_j, rel=1e-3, abs=1e-9)
