"""SLO attainment, goodput and goodput per kJ: the arithmetic."""

from __future__ import annotations

import pytest
from llem import RequestRecord
from llem.config.schema import SloConfig
from llem.load.slo import meets, request_latencies, slo_outcome

MS = 1_000_000


def rec(ttft_ms: float, tpot_ms: float, out: int = 11) -> RequestRecord:
    first = int(ttft_ms * MS)
    return RequestRecord(0, 5, out, 0, first, first + int(tpot_ms * MS) * (out - 1))


def test_request_latencies_are_ttft_tpot_and_end_to_end():
    lat = request_latencies(rec(200, 20))
    assert lat == pytest.approx({"ttft_s": 0.2, "tpot_s": 0.02, "e2e_s": 0.4})
    assert request_latencies(rec(100, 0, out=1))["tpot_s"] is None


def test_a_request_meets_the_slo_only_within_every_set_term_and_without_failing():
    slo = SloConfig(ttft_s=0.5, tpot_s=0.05)
    assert meets(request_latencies(rec(400, 40)), True, slo) is True
    assert meets(request_latencies(rec(600, 40)), True, slo) is False
    assert meets(request_latencies(rec(400, 60)), True, slo) is False
    assert meets(request_latencies(rec(400, 40)), False, slo) is False
    assert meets(request_latencies(rec(400, 40)), True, SloConfig()) is None


def test_attainment_goodput_and_goodput_per_kj():
    records = [rec(100, 10)] * 7 + [rec(900, 10)] * 3  # 7 of 10 within TTFT 0.5 s
    lat = [request_latencies(r) for r in records]
    out = slo_outcome(lat, [True] * 10, SloConfig(ttft_s=0.5, percentile=50), 20.0, 3500.0)
    assert out.attainment == pytest.approx(0.7) and out.good_requests == 7
    assert out.goodput_rps == pytest.approx(7 / 20.0)
    assert out.goodput_per_kj == pytest.approx(7 / 3.5)
    assert out.met is True and out.observed["ttft_s"] == pytest.approx(0.1)  # p50
    p90 = slo_outcome(lat, [True] * 10, SloConfig(ttft_s=0.5, percentile=90), 20.0, 3500.0)
    assert p90.met is False and p90.observed["ttft_s"] == pytest.approx(0.9)


def test_failed_requests_count_as_infinitely_slow_and_no_terms_give_no_outcome():
    lat = [request_latencies(rec(100, 10))] * 10
    out = slo_outcome(lat, [True] * 8 + [False] * 2, SloConfig(ttft_s=0.5, percentile=90), 1, None)
    assert out.met is False and out.observed["ttft_s"] is None and out.goodput_per_kj is None
    assert slo_outcome(lat, [True] * 10, SloConfig(), 1.0, 1.0) is None
