from __future__ import annotations

import pytest
from llem.config.schema import GenerationConfig, WarmupConfig
from llem.interfaces import Request
from llem.measure.warmup import coefficient_of_variation, run_warmup

REQS = [Request(id=i, prompt=None, input_ids=(1, 2), max_new_tokens=32) for i in range(10)]
GEN = GenerationConfig(max_new_tokens=32)


class Timed:
    """generate() 'takes' the next duration from a script (the clock is patched)."""

    def __init__(self, durations, monkeypatch):  # type: ignore[no-untyped-def]
        self.durations = list(durations)
        self.calls = []
        self.now = 0.0
        monkeypatch.setattr("llem.measure.warmup.time.perf_counter", lambda: self.now)

    def generate(self, requests, gen):  # type: ignore[no-untyped-def]
        self.calls.append(([r.max_new_tokens for r in requests], gen.max_new_tokens))
        self.now += self.durations.pop(0)
        return []

    def synchronize(self):  # type: ignore[no-untyped-def]
        pass


def test_runs_full_length_batches_of_the_backend_batch_size(monkeypatch):
    backend = Timed([1.0, 1.0, 1.0], monkeypatch)
    out = run_warmup(backend, REQS, GEN, WarmupConfig(runs=3), batch_size=4)
    assert out.runs == 3 and out.durations_s == (1.0, 1.0, 1.0) and out.converged is None
    assert backend.calls == [([32] * 4, 32)] * 3


def test_fast_mode_generates_one_token(monkeypatch):
    backend = Timed([1.0], monkeypatch)
    run_warmup(backend, REQS, GEN, WarmupConfig(runs=1, mode="fast"), batch_size=None)
    assert backend.calls == [([1], 1)]


def test_cv_convergence_stops_when_the_last_runs_agree(monkeypatch):
    backend = Timed([5.0, 3.0, 2.0, 1.0, 1.0, 1.0, 9.0], monkeypatch)
    out = run_warmup(backend, REQS, GEN, WarmupConfig(runs=2, cv_target=0.05, max_runs=10), 1)
    assert out.runs == 6 and out.converged is True and out.cv == pytest.approx(0.0)


def test_cv_not_reached_by_max_runs_is_reported(monkeypatch):
    backend = Timed([1.0, 2.0, 1.0, 2.0], monkeypatch)
    out = run_warmup(backend, REQS, GEN, WarmupConfig(runs=1, cv_target=0.01, max_runs=4), 1)
    assert out.runs == 4 and out.converged is False and out.cv > 0.01


def test_no_warmup(monkeypatch):
    out = run_warmup(Timed([], monkeypatch), REQS, GEN, WarmupConfig(runs=0), 1)
    assert out.runs == 0 and out.durations_s == ()


def test_coefficient_of_variation():
    assert coefficient_of_variation([1.0]) is None
    assert coefficient_of_variation([2.0, 4.0]) == pytest.approx(2**0.5 / 3)
