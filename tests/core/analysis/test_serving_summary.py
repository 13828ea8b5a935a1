"""Per load level, the lowest-energy configuration that meets the SLO."""

from __future__ import annotations

import attrs
from llem.analysis.aggregate import aggregate_results
from llem.analysis.serving import cheapest_per_load
from llem.results.schema import SloOutcome, StudyResult, WindowEnergy
from llem.run.summary import serving_lines

from tests.core.results.sample import sample_result


def served(hash_: str, cycle: int, j_per_token: float, met: bool):  # type: ignore[no-untyped-def]
    r = sample_result(f"{hash_}-c{cycle}", cycle=cycle)
    slo = SloOutcome(0.5, None, None, 90.0, 0.9, 9, 1.0, 2.0, met, {"ttft_s": 0.4})
    steady = WindowEnergy("steady_state", 1.0, 10.0, 100.0, None, 100, j_per_token, 10.0, 4)
    return attrs.evolve(r, config_hash=hash_, slo=slo, steady_state=steady)


def study(experiments, params):  # type: ignore[no-untyped-def]
    aggs = aggregate_results(experiments, params)
    return StudyResult("s", "/r", "complete", "a", "b", tuple(experiments), aggs)


def test_the_cheapest_configuration_meeting_the_slo_wins_at_each_load_level():
    exps = [
        served("aaaaaaaaaaaa", 1, 0.10, True),  # rate 4, batch 8: cheapest, meets
        served("bbbbbbbbbbbb", 1, 0.05, False),  # rate 4, batch 64: cheaper, misses
        served("cccccccccccc", 1, 0.30, False),  # rate 16, batch 8: misses
        served("dddddddddddd", 1, 0.20, True),  # rate 16, batch 64: meets in one cycle ...
        served("dddddddddddd", 2, 0.22, False),  # ... not the other: does not meet
    ]
    params = {
        "aaaaaaaaaaaa": {"load.rate": 4, "pytorch.batch_size": 8},
        "bbbbbbbbbbbb": {"load.rate": 4, "pytorch.batch_size": 64},
        "cccccccccccc": {"load.rate": 16, "pytorch.batch_size": 8},
        "dddddddddddd": {"load.rate": 16, "pytorch.batch_size": 64},
    }
    s = study(exps, params)
    rate4, rate16 = cheapest_per_load(s)
    assert rate4.load == {"load.rate": 4} and rate4.config_hash == "aaaaaaaaaaaa"
    assert rate4.energy_per_output_token_j == 0.10 and (rate4.meeting, rate4.candidates) == (1, 2)
    assert rate16.config_hash is None and rate16.meeting == 0
    lines = serving_lines(s)
    assert "at load.rate=4: cheapest meeting the SLO" in lines[0] and "0.1 J/token" in lines[0]
    assert lines[1] == "at load.rate=16: no configuration met the SLO (2 tried)"


def test_a_study_without_slo_has_no_serving_lines():
    s = study([sample_result()], None)
    assert cheapest_per_load(s) == [] and serving_lines(s) == []
