from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from llem import RequestRecord
from llem.measure.performance import latency_stats, percentile, performance, workload

MS = 1_000_000


def rec(i, submit, first, end, out=11, inp=5):  # type: ignore[no-untyped-def]
    return RequestRecord(
        request_id=i,
        input_tokens=inp,
        output_tokens=out,
        t_submit_ns=submit,
        t_first_token_ns=first,
        t_end_ns=end,
    )


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.sampled_from([50, 90, 99]))
def test_percentiles_match_numpys_linear_method(values, q):
    assert percentile(sorted(values), q) == pytest.approx(np.percentile(values, q))


def test_ttft_itl_latency_and_throughput():
    records = [rec(0, 0, 100 * MS, 600 * MS), rec(1, 0, 200 * MS, 1200 * MS)]
    perf = performance(records, window_s=2.0)
    assert perf.tokens_per_second == 11.0 and perf.requests_per_second == 1.0
    assert perf.ttft_s.mean == pytest.approx(0.15)
    assert perf.itl_s.p50 == pytest.approx((0.05 + 0.1) / 2)  # (end-first)/(out-1)
    assert perf.latency_s.p99 == pytest.approx(0.6 + 0.99 * 0.6)
    assert perf.duration_s == 2.0 and perf.timing_source == "measured"


def test_untimed_first_tokens_give_none_not_zero():
    perf = performance([rec(0, 0, None, 10 * MS)], 1.0)
    assert perf.ttft_s.mean is None and perf.itl_s.p90 is None
    assert perf.latency_s.mean == pytest.approx(0.01)
    assert latency_stats([]).mean is None


def test_single_token_requests_have_no_itl():
    assert performance([rec(0, 0, MS, MS, out=1)], 1.0).itl_s.mean is None


def test_workload_totals_and_means():
    wl = workload("synthetic", [rec(0, 0, 1, 2, out=4, inp=10), rec(1, 0, 1, 2, out=6, inp=20)])
    assert (wl.num_prompts, wl.input_tokens, wl.output_tokens) == (2, 30, 10)
    assert wl.mean_input_tokens == 15.0 and wl.mean_output_tokens == 5.0
