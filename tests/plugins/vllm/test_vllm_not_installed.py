"""With llem-vllm installed but no vllm importable: a hint, and a preflight failure."""

from __future__ import annotations

import importlib.util

import pytest
from llem.config.schema import ExperimentConfig
from llem_vllm.backend import VllmBackend

INSTALL = "pip install vllm==0.26.*"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="a real vllm is installed here"
)


def test_missing_requirement_names_the_install_command():
    assert VllmBackend.missing_requirement() == f"vllm not installed: {INSTALL}"


def test_preflight_lists_the_install_command():
    problems = VllmBackend().preflight(
        ExperimentConfig(model="builtin:tiny-llama", backend="vllm", weights="random")
    )
    assert [p.message for p in problems] == [f"vllm not installed: {INSTALL}"]


def test_a_run_fails_at_preflight_with_the_install_command_and_nothing_else(tmp_path):
    lifecycle = pytest.importorskip("llem.measure.lifecycle")
    from llem.plugins import load_registry

    cfg = ExperimentConfig(model="builtin:tiny-llama", backend="vllm", weights="random", devices=())
    result = lifecycle.run_experiment(
        cfg, experiment_id="x-c0", cycle=0, run_dir=tmp_path, registry=load_registry("vllm")
    )
    assert result.status == "failed"
    assert result.error.kind == "preflight"
    assert INSTALL in result.error.message
    assert result.performance is None and result.energy is None


def test_llem_config_says_vllm_is_not_installed():
    cli = pytest.importorskip("llem.cli")
    from click.testing import CliRunner

    out = CliRunner().invoke(cli.cli, ["config"], env={"COLUMNS": "300"})
    assert "vllm not installed" in out.output, out.output
