"""The end-of-study table."""

from __future__ import annotations

from llem.analysis.aggregate import aggregate_results
from llem.analysis.pareto import pareto_front
from llem.results.schema import StudyResult
from llem.run.summary import summary_lines

from tests.fakes.study_results import make_result


def test_summary_lists_each_configuration_with_mean_ci_and_front_mark():
    results = [make_result("a", c, energy_per_token=v) for c, v in ((1, 1.0), (2, 2.0), (3, 3.0))]
    results += [
        make_result("b", 1, energy_per_token=9.0, itl=0.5),
        make_result("b", 2, status="failed"),
    ]
    study = StudyResult(
        name="s",
        run_dir="/tmp/r",
        status="failed",
        started_at="",
        ended_at="",
        experiments=tuple(results),
        aggregates=aggregate_results(
            results, {"a": {"pytorch.batch_size": 1}, "b": {"pytorch.batch_size": 8}}
        ),
        pareto_front=pareto_front(results),
    )
    lines = summary_lines(study)
    assert lines[0].split()[:3] == ["configuration", "ok", "J/token"]
    a_line = next(line for line in lines if "pytorch.batch_size=1" in line)
    b_line = next(line for line in lines if "pytorch.batch_size=8" in line)
    assert a_line.startswith("★ a") and "3/3" in a_line and "2 [" in a_line
    assert not b_line.startswith("★") and "1/2" in b_line
    assert lines[-1].startswith("failed: 4 experiment(s) ok, 1 failed")
