"""cycles: auto -- more cycles only for configurations whose interval is still wide."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.errors import Interrupted
from llem.run.adaptive import Spread, next_round, relative_half_widths, stopped_at_max
from llem.run.manifest import read_manifest
from llem.run.study import resume_study, run_study

from tests.core.run.conftest import quick_study


def test_tight_values_give_a_small_half_width_and_too_few_give_none():
    widths = relative_half_widths({0: [10.0, 10.01, 9.99, 10.0], 1: [1.0, 2.0, 3.0], 2: [5.0]})
    assert widths[0] is not None and widths[0] < 0.002
    assert widths[1] is not None and widths[1] > 0.2
    assert widths[2] is None


def test_only_wide_configurations_below_max_cycles_get_another_cycle():
    spreads = [Spread(0, 3, 0.01), Spread(1, 3, 0.05), Spread(2, 3, None), Spread(3, 6, 0.5)]
    assert [s.config_index for s in next_round(spreads, 0.02, 6)] == [1, 2]
    assert [s.config_index for s in stopped_at_max(spreads, 0.02, 6)] == [3]


def test_auto_cycles_grow_the_wide_configuration_until_max_cycles(fake_worker, tmp_path, capsys):
    # FakeWorker: energy/token = energy + 0.01 x cycle. Config 0 sits at 50 J (relative
    # spread 0.02 %), config 1 at 0.05 J (spread ~15 %): only config 1 gets more cycles.
    study = quick_study(
        2,
        "auto",  # type: ignore[arg-type]
        target_ci=0.02,
        max_cycles=5,
        extras={0: {"energy": 50.0}, 1: {"energy": 0.05}},
    )
    result = run_study(study, out_dir=tmp_path, progress=True)

    assert result.status == "complete"
    entries = read_manifest(Path(result.run_dir)).entries
    per_config = [sum(e.config_index == c for e in entries) for c in (0, 1)]
    assert per_config == [3, 5]
    assert [e.cycle for e in entries if e.config_index == 1] == [1, 2, 3, 4, 5]
    assert [a.cycles_ok for a in result.aggregates] == [3, 5]
    out = capsys.readouterr().out
    assert "cycles auto: 1 of 2 configuration(s) reached ±2.0%" in out
    assert "stopped at max_cycles=5" in out


def test_a_resumed_auto_study_carries_on_with_the_rounds(fake_worker, tmp_path):
    study = quick_study(1, "auto", target_ci=0.02, max_cycles=4, extras={0: {"energy": 0.05}})
    fake_worker.interrupt_at_call = 4  # the first extra round
    with pytest.raises(Interrupted):
        run_study(study, out_dir=tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()
    fake_worker.interrupt_at_call = None
    result = resume_study(run_dir, progress=False)
    assert result.status == "complete"
    assert [e.cycle for e in read_manifest(run_dir).entries] == [1, 2, 3, 4]
