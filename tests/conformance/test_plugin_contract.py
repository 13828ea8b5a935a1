"""The conformance suite holds a stranger's plugin to the contract: one written against
``llem.plugin`` only passes; the known-bad ones (issue 16) fail, each with a message
that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.testing import (
    BackendConformance,
    MeterConformance,
    SinkConformance,
    check_backend,
    check_config,
    check_installed,
    check_meter,
    check_registers,
    check_sink,
)

from tests.conformance import bad_plugins, good_plugin, misspelt_plugin
from tests.core.test_plugin import llem_imports
from tests.fakes.dist_info import announce

GOOD = "tests.conformance.good_plugin"
BAD = "tests.conformance.bad_plugins"


# -- a plugin written against llem.plugin only -------------------------------------------
def test_the_good_plugin_imports_nothing_from_llem_but_llem_plugin():
    assert {m for _, m in llem_imports(Path(good_plugin.__file__))} == {"llem.plugin"}


class TestGoodBackend(BackendConformance):
    backend_class = good_plugin.StepBackend
    config = {"step_ms": 0.1}
    bad_configs = [{"step_ms": -1}, {"vocab_size": 1}, {"step": 1}]
    plugin = GOOD


class TestGoodMeter(MeterConformance):
    meter_class = good_plugin.WattMeter
    config = {"assumed_w": 5.0}
    bad_configs = [{"assumed_w": 0}, {"assumed": 1}]
    plugin = GOOD


class TestGoodSink(SinkConformance):
    sink_class = good_plugin.JsonLinesSink
    plugin = GOOD


# -- the known-bad plugins fail ------------------------------------------------------------
def test_a_backend_that_ignores_its_own_options_fails():
    with pytest.raises(AssertionError) as info:
        check_backend(
            bad_plugins.IgnoringBackend, {"step_ms": 5}, bad_configs=[{"step_ms": -1}], plugin=BAD
        )
    assert str(info.value).startswith(
        "IgnoringBackend read none of the options of the bad_ignoring section it was given "
        "(step_ms) in __init__, preflight, load or generate: it ignores its configuration"
    )


def test_a_meter_that_reports_zero_joules_fails():
    with pytest.raises(AssertionError) as info:
        check_meter(bad_plugins.ZeroMeter, plugin=BAD)
    assert str(info.value).startswith(
        "bad_zero: cpu_j = 0.0 J over the window; hardware never draws nothing, so this is a "
        "meter that did not measure: report None and say why in notes"
    )


def test_a_sink_that_writes_nothing_fails(tmp_path):
    with pytest.raises(AssertionError) as info:
        check_sink(bad_plugins.SilentSink, tmp_path / "run", plugin=BAD)
    assert str(info.value).startswith(
        "the bad_silent sink wrote nothing under run_dir after two write_experiment calls"
    )


def test_a_config_section_without_bad_examples_fails():
    with pytest.raises(AssertionError) as info:
        check_config(good_plugin.StepBackend, {"step_ms": 1}, bad=())
    assert str(info.value).startswith(
        "StepBackend has a config section (StepConfig) but no bad examples: set bad_configs"
    )


def test_a_bad_example_that_is_accepted_fails_naming_it():
    with pytest.raises(AssertionError, match=r"the bad section \{'step_ms': 3\} was accepted"):
        check_config(good_plugin.StepBackend, {}, bad=[{"step_ms": 3}])


def test_a_misspelt_hook_fails_with_the_hook_it_meant():
    with pytest.raises(AssertionError) as info:
        check_registers("backend", good_plugin.StepBackend, misspelt_plugin)
    assert "unknown hook 'register_backend' (did you mean 'register_backends'?)" in str(info.value)


def test_two_plugins_registering_one_name_fail_naming_both(tmp_path, monkeypatch):
    """Not a skip saying "not installed": both distributions are named."""
    announce(tmp_path, "llem-good-step", "1.0", "good", GOOD)
    announce(tmp_path, "llem-step-clone", "2.0", "clone", "tests.conformance.clone_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LLEM_PLUGINS", raising=False)
    with pytest.raises(AssertionError) as info:
        check_installed("backend", good_plugin.StepBackend)
    msg = str(info.value)
    assert "two backends are registered as 'good_step'" in msg
    assert "llem-good-step" in msg and "llem-step-clone" in msg


def test_an_installed_plugin_that_is_broken_fails_with_its_error(tmp_path, monkeypatch):
    announce(tmp_path, "llem-misspelt", "1.0", "misspelt", "tests.conformance.misspelt_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LLEM_PLUGINS", raising=False)

    class Shipped(good_plugin.StepBackend):
        name = "misspelt_step"

    Shipped.__module__ = "tests.conformance.misspelt_plugin"
    with pytest.raises(
        AssertionError, match="installed but broken: unknown hook 'register_backend'"
    ):
        check_installed("backend", Shipped)
