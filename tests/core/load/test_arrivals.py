"""Arrival schedules: seeded, with the mean rate and spread each process promises."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llem.config.schema import LoadConfig
from llem.errors import ConfigError
from llem.load.arrivals import arrival_times, read_trace, schedule

N = 20_000
# Tolerances: with 20,000 gaps the mean's relative standard error is 1/sqrt(N) = 0.7 %
# for Poisson; the sample CV of gamma(shape >= 0.25) gaps has a few % error at most.
RATE_TOL = 0.05
CV_TOL = 0.10


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(0.5, 1000.0), seed=st.integers(0, 2**31))
def test_poisson_has_the_mean_rate_and_a_cv_of_one(rate: float, seed: int) -> None:
    times = arrival_times("poisson", rate, N, LoadConfig(seed=seed))
    g = gaps(times)
    assert 1 / statistics.fmean(g) == pytest.approx(rate, rel=RATE_TOL)
    assert cv(g) == pytest.approx(1.0, rel=CV_TOL)


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(0.5, 1000.0), burstiness=st.floats(0.25, 4.0), seed=st.integers(0, 2**31))
def test_gamma_has_the_mean_rate_and_cv_one_over_root_burstiness(
    rate: float, burstiness: float, seed: int
) -> None:
    load = LoadConfig(seed=seed, burstiness=burstiness)
    g = gaps(arrival_times("gamma", rate, N, load))
    assert 1 / statistics.fmean(g) == pytest.approx(rate, rel=RATE_TOL)
    assert cv(g) == pytest.approx(burstiness**-0.5, rel=CV_TOL)


@given(rate=st.floats(0.1, 10_000.0), n=st.integers(2, 200))
def test_constant_gaps_are_exactly_one_over_rate(rate: float, n: int) -> None:
    g = gaps(arrival_times("constant", rate, n, LoadConfig()))
    assert all(x == pytest.approx(1 / rate) for x in g)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    a = arrival_times("poisson", 10.0, 100, LoadConfig(seed=7))
    assert a == arrival_times("poisson", 10.0, 100, LoadConfig(seed=7))
    assert a != arrival_times("poisson", 10.0, 100, LoadConfig(seed=8))
    assert a[0] == 0.0


def test_a_schedule_stops_at_duration_or_n() -> None:
    load = LoadConfig(mode="serving", arrival="constant", rate=10.0, duration_s=1.0)
    assert [a.at_s for a in schedule(load, 100)] == pytest.approx([i / 10 for i in range(10)])
    assert len(schedule(load, 3)) == 3
    assert schedule(LoadConfig(mode="serving", arrival="concurrency", concurrency=4), 9) is None


def test_an_azure_trace_replays_times_relative_to_the_first_row(tmp_path: Path) -> None:
    trace = tmp_path / "AzureLLMInferenceTrace_conv.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
        "2023-11-16 18:15:51.2062500,879,35\n"
    )
    rows = read_trace(trace)
    assert [r.at_s for r in rows] == pytest.approx([0.0, 4.314579, 4.525660], abs=1e-5)
    assert [(r.input_tokens, r.output_tokens) for r in rows] == [(374, 44), (396, 109), (879, 35)]


def test_a_jsonl_trace_with_seconds_and_lower_case_keys(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"time": 10.5, "input_tokens": 8}\n\n{"time": 11, "output_tokens": 3}\n')
    rows = read_trace(trace)
    assert [(r.at_s, r.input_tokens, r.output_tokens) for r in rows] == [
        (0.0, 8, None),
        (0.5, None, 3),
    ]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("TIMESTAMP,ContextTokens\n1,5\nsoon,5\n", 3, "neither seconds nor"),
        ("TIMESTAMP,ContextTokens\n2,5\n1,5\n", 3, "back in time"),
        ("TIMESTAMP,ContextTokens\n1,5\n2,-1\n", 3, "must be >= 1"),
        ("TIMESTAMP,ContextTokens\n1,5,7\n", 2, "3 values for 2 columns"),
        ("when,ContextTokens\n1,5\n", 2, "no arrival time column"),
    ],
)
def test_a_bad_trace_row_is_a_config_error_naming_file_and_line(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(text)
    with pytest.raises(ConfigError, match=f"bad.csv:{line}: .*{says}"):
        read_trace(trace)


def test_a_missing_or_empty_trace_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_trace(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("TIMESTAMP\n")
    with pytest.raises(ConfigError, match="no requests"):
        read_trace(tmp_path / "empty.csv")
