"""The load and slo sections: validated with file:line, sweepable, serving-capable backends."""

from __future__ import annotations

import pytest
from llem.config.loader import loads
from llem.errors import ConfigError
from llem.plugins import get_registry

BASE = "model: builtin:tiny-llama\nbackend: pytorch\n"


def test_load_and_slo_sections_structure_and_load_rate_sweeps():
    study = loads(
        BASE + "load: {mode: serving, arrival: poisson}\n"
        "slo: {ttft_s: 0.5, percentile: 99}\n"
        "sweep:\n  load.rate: [1, 4, 16]\n",
        "s.yaml",
    )
    assert [e.load.rate for e in study.experiments] == [1, 4, 16]
    assert study.experiments[0].slo.terms == {"ttft_s": 0.5}
    assert len({e.load for e in study.experiments}) == 3


def test_offline_stays_the_default():
    cfg = loads(BASE, "s.yaml").experiments[0]
    assert cfg.load.mode == "offline" and cfg.slo.terms == {}


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("load: {mode: serving, arrival: poisson}", "needs load.rate"),
        ("load: {mode: serving, arrival: concurrency}", "needs load.concurrency"),
        ("load: {mode: serving, arrival: trace}", "needs load.trace"),
        ("load: {mode: serving, arrival: sometimes, rate: 1}", "arrival"),
        ("load: {mode: serving, rate: -1}", "rate must be > 0"),
        ("load: {mode: serving, rat: 1}", "rat"),
        ("slo: {ttft_s: 0}", "ttft_s must be > 0"),
    ],
)
def test_a_bad_load_or_slo_section_names_file_and_line(section: str, says: str):
    with pytest.raises(ConfigError, match=f"s.yaml:3:.*{says}"):
        loads(BASE + section + "\n", "s.yaml")


def test_serving_with_a_backend_that_cannot_serve_fails_at_config_load(monkeypatch):
    monkeypatch.setattr(get_registry().get("backend", "pytorch"), "serves", False)
    with pytest.raises(ConfigError, match=r"s.yaml:3:.*'pytorch' cannot serve") as info:
        loads(BASE + "load: {mode: serving, rate: 2}\n", "s.yaml")
    assert info.value.exit_code == 2
