"""Every figure drawn from the fixture studies (offline and serving), checked on the
matplotlib Figure objects: axes, labels with units, series and point counts."""

from __future__ import annotations

from collections import Counter

import pytest
from llem.report.figures import breakdown_figure, parameter_figure, pareto_figure, swept_parameters
from llem.report.serving import NO_SERVING, serving_figure
from llem.report.study import load_study
from llem.report.style import PALETTE, styled
from llem.report.traces import trace_figures

from tests.core.report.conftest import OFFLINE_GRID, SERVING_GRID

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def offline(offline_run):  # type: ignore[no-untyped-def]
    return load_study(offline_run)


@pytest.fixture(scope="module")
def serving(serving_run):  # type: ignore[no-untyped-def]
    return load_study(serving_run)


def _errorbar_series(ax):  # type: ignore[no-untyped-def]
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


@pytest.mark.parametrize(
    ("metric", "xunit"), [("tokens_per_second", "(tok/s)"), ("itl_mean_s", "(s)")]
)
def test_pareto_front_has_every_configuration_with_intervals_and_the_front_drawn(
    offline, metric, xunit
):
    with styled():
        drawn = pareto_figure(offline, metric)
    (ax,) = drawn.figure.axes
    assert ax.get_ylabel().endswith("(J/token)") and ax.get_ylabel().startswith("energy per")
    assert ax.get_xlabel().endswith(xunit)
    series = _errorbar_series(ax)
    assert len(series) == len(OFFLINE_GRID)  # one point per configuration
    for container in series:
        _, _, (xbars, ybars) = container
        segment = ybars.get_segments()[0]
        assert segment[1][1] > segment[0][1]  # a real 95 % interval from 3 cycles
    (front,) = [line for line in ax.get_lines() if "Pareto front" in line.get_label()]
    assert 1 <= len(front.get_xdata()) <= len(OFFLINE_GRID)
    labels = [t.get_text() for t in ax.texts]
    assert "max_new_tokens=8, batch_size=2" in labels and len(labels) == len(OFFLINE_GRID)


def test_pareto_front_membership_matches_the_study(offline):  # type: ignore[no-untyped-def]
    with styled():
        drawn = pareto_figure(offline, "itl_mean_s")
    (front,) = [line for line in drawn.figure.axes[0].get_lines() if "Pareto" in line.get_label()]
    assert len(front.get_xdata()) == len(offline.pareto_front)


def test_each_swept_parameter_is_drawn_against_energy_and_throughput_by_group(offline):  # type: ignore[no-untyped-def]
    keys = swept_parameters(offline)
    assert set(keys) == {"fake.batch_size", "generation.max_new_tokens"}
    for key in keys:
        with styled():
            drawn = parameter_figure(offline, key)
        energy, throughput = drawn.figure.axes
        assert energy.get_ylabel().endswith("(J/token)")
        assert throughput.get_ylabel() == "tokens/s (tok/s)"
        assert throughput.get_xlabel() == key
        for ax in (energy, throughput):
            series = _errorbar_series(ax)
            assert len(series) == 2  # grouped by the other parameter's two values
            assert all(len(s.lines[0].get_xdata()) == 2 for s in series)
        assert len(energy.get_legend().get_texts()) == 2


def test_energy_breakdown_stacks_prefill_decode_and_idle_per_configuration(offline):  # type: ignore[no-untyped-def]
    with styled():
        drawn = breakdown_figure(offline)
    (ax,) = drawn.figure.axes
    assert ax.get_xlabel() == "energy per output token (J/token)"
    parts = [c.get_label() for c in ax.containers]
    assert parts == ["prefill", "decode", "idle"]
    assert all(len(c.patches) == len(OFFLINE_GRID) for c in ax.containers)
    widths = [[p.get_width() for p in c.patches] for c in ax.containers]
    assert all(w > 0 for part in widths for w in part)  # the baseline ran: idle > 0
    # the stack is the configuration's mean J/token
    stats = {a.config_hash: a for a in offline.aggregates}
    first = offline.aggregates[0].config_hash
    total = sum(part[0] for part in widths)
    mean = stats[first].metrics["energy_per_output_token_j"].mean
    assert total == pytest.approx(mean, rel=1e-6)


def test_power_and_temperature_traces_shade_the_offline_phases(offline):  # type: ignore[no-untyped-def]
    with styled():
        drawn = trace_figures(offline)
    assert len(drawn) == len(OFFLINE_GRID)  # the first cycle of each configuration
    assert all("(cycle 1)" in d.title for d in drawn)
    power, temp = drawn[0].figure.axes
    assert power.get_ylabel() == "GPU power (W)" and temp.get_ylabel() == "GPU temperature (°C)"
    assert temp.get_xlabel() == "time from the window's start (s)"
    assert len(power.get_lines()) == 1 and len(temp.get_lines()) == 1  # one GPU
    assert max(power.get_lines()[0].get_ydata()) > 200  # the fake GPU drew prefill power
    bands = [p.get_label() for p in power.patches]
    assert {"baseline", "warmup", "prefill", "decode"} <= set(bands)
    assert Counter(bands)["prefill"] == 1


def test_serving_traces_shade_the_steady_state(serving):  # type: ignore[no-untyped-def]
    with styled():
        drawn = trace_figures(serving)
    assert len(drawn) == len(SERVING_GRID)
    bands = {p.get_label() for p in drawn[0].figure.axes[0].patches}
    assert "steady state" in bands and "prefill" not in bands


def test_serving_energy_and_slo_attainment_against_offered_load(serving):  # type: ignore[no-untyped-def]
    with styled():
        drawn = serving_figure(serving)
    energy, slo = drawn.figure.axes
    assert energy.get_ylabel() == "energy per output token (J/token)"
    assert slo.get_ylabel() == "SLO attainment (% of requests)"
    assert slo.get_xlabel() == "offered load (requests/s)"
    for ax in (energy, slo):
        series = _errorbar_series(ax)
        assert len(series) == 2  # batch sizes 2 and 4
        assert all(len(s.lines[0].get_xdata()) == 3 for s in series)  # three rates
    ys = [y for s in _errorbar_series(slo) for y in s.lines[0].get_ydata()]
    assert all(0 <= y <= 100 for y in ys)
    colours = {s.lines[0].get_color() for s in _errorbar_series(energy)}
    assert colours <= {c.lower() for c in PALETTE} | set(PALETTE)


def test_an_offline_study_has_no_serving_figure_and_says_why(offline):  # type: ignore[no-untyped-def]
    drawn = serving_figure(offline)
    assert drawn.figure is None and drawn.note == NO_SERVING
