"""The llem command through click's CliRunner: exit codes, dry run, llem config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import llem
import pytest
import structlog
from click.testing import CliRunner
from llem import logs
from llem.cli import cli
from llem.errors import Interrupted
from llem.plan import preview
from llem.results.schema import StudyResult

from tests.core.config.fake_plugins import (
    CommandPlugin,
    FakeEntryPoint,
    forget_registry,
    standard_entry_points,
    use_fake_plugins,
)

GiB = 1024**3


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Fake plugins, no user config, no GPU; logging and LLEM_DEBUG restored after."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    monkeypatch.delenv("LLEM_DEBUG", raising=False)
    monkeypatch.setenv("LLEM_USER_CONFIG", "")
    monkeypatch.setenv("COLUMNS", "200")
    use_fake_plugins(
        monkeypatch,
        [*standard_entry_points(), FakeEntryPoint("cmds", CommandPlugin(), "llem-cmds")],
    )
    monkeypatch.setattr(
        preview.Gpus,
        "discover",
        classmethod(lambda cls: cls({}, (), "NVML Shared Library Not Found")),
    )
    monkeypatch.chdir(tmp_path)
    yield
    forget_registry()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    logs._state.update(configured=False, debug=False, console=None)
    structlog.reset_defaults()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), prog_name="llem")


def write(name: str, text: str) -> str:
    Path(name).write_text(text, encoding="utf-8")
    return name


def test_help_lists_builtin_and_plugin_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("run", "config", "hello"):
        assert f"  {name}" in result.output
    assert invoke("hello").output.strip() == "hello from a plugin"


def test_a_plugin_whose_register_commands_raises_does_not_break_help(monkeypatch):
    class Bad:
        @llem.hookimpl
        def register_commands(self, cli):
            raise RuntimeError("nope")

    use_fake_plugins(monkeypatch, [FakeEntryPoint("bad", Bad(), "llem-bad")])
    cli.plugins_loaded = False
    try:
        result = invoke("--help")
    finally:
        cli.plugins_loaded = False
    assert result.exit_code == 0 and "run" in result.output


def test_version_lists_core_and_plugins():
    result = invoke("--version")
    assert result.exit_code == 0
    assert f"llem-core {llem.__version__}" in result.output
    assert "llem-alpha 1.2.3 [alpha]" in result.output


def test_dry_run_table_lists_experiments_params_memory_and_time():
    path = write(
        "s.yaml",
        "name: s\nmodel: builtin:llama-3.1-8b\nbackend: alpha\n"
        "sweep:\n  precision: [fp32, bf16]\n  alpha.batch_size: [1, 4]\n",
    )
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "s: 4 experiment(s), dry run" in out
    assert "precision=fp32, alpha.batch_size=1" in out
    assert "GiB" in out and "no GPU seen: NVML Shared Library Not Found" in out
    assert "4 experiment(s) x 3 cycle(s) = 12 runs" in out
    assert "Estimates assume" in out


def test_dry_run_flags_experiments_that_will_not_fit(monkeypatch):
    monkeypatch.setattr(
        preview.Gpus,
        "discover",
        classmethod(lambda cls: cls({0: 24 * GiB}, ("NVIDIA L4 (24 GiB)",))),
    )
    path = write(
        "s.yaml", "model: builtin:llama-3.1-8b\nbackend: alpha\nsweep:\n  precision: [fp32, bf16]\n"
    )
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 0
    assert "WON'T FIT" in result.output and "fits" in result.output
    assert "1 experiment(s) will not fit: #1" in result.output
    assert "GPUs: NVIDIA L4 (24 GiB)" in result.output


def test_dry_run_unknown_architecture_says_unknown():
    result = invoke("run", "--model", "org/some-model", "--backend", "alpha", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "unknown" in result.output and "not known offline" in result.output


def test_config_error_exits_2_with_the_message_and_no_traceback():
    path = write("bad.yaml", "model: m\nbackend: alpha\ngeneraton: {}\n")
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 2
    assert "bad.yaml:3:1: unknown key 'generaton'; did you mean 'generation'?" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback():
    path = write("bad.yaml", "model: m\nbackend: alpha\nprecision: fp17\n")
    result = invoke("--debug", "run", path, "--dry-run")
    assert result.exit_code == 2
    assert "Traceback" in result.output and "precision" in result.output


def test_usage_errors_exit_2():
    assert invoke("run").exit_code == 2  # neither a config nor --model
    assert invoke("run", "--profile", "fastest", "--model", "m").exit_code == 2
    path = write("a.yaml", "model: m\nbackend: alpha\n")
    result = invoke("run", path, "--resume", "somewhere")
    assert result.exit_code == 2 and "drop CONFIG" in result.output


def test_model_and_backend_flags_override_the_file_and_are_recorded(monkeypatch):
    seen: dict[str, Any] = {}

    def fake_run_study(study, *, out_dir=None, progress=True):
        seen.update(study=study, out_dir=out_dir)
        return StudyResult(study.name, "rd", "complete", "t0", "t1", ())

    import llem.run.study

    monkeypatch.setattr(llem.run.study, "run_study", fake_run_study)
    path = write("a.yaml", "model: m\nbackend: beta\n")
    result = invoke(
        "run",
        path,
        "--backend",
        "alpha",
        "--set",
        "alpha.batch_size=2",
        "--profile",
        "quick",
        "--out",
        "outdir",
    )
    assert result.exit_code == 0, result.output
    study = seen["study"]
    assert study.experiments[0].backend == "alpha"
    assert study.overrides == ('backend="alpha"', "alpha.batch_size=2")
    assert study.profile == "quick" and seen["out_dir"] == Path("outdir")


@pytest.mark.parametrize(
    "outcome,code",
    [
        ("complete", 0),
        ("failed", 1),
        ("interrupted", 1),
        (Interrupted("stopped"), 130),
        (KeyboardInterrupt(), 130),
    ],
)
def test_run_exit_codes(monkeypatch, outcome, code):
    def fake_run_study(study, *, out_dir=None, progress=True):
        if isinstance(outcome, BaseException):
            raise outcome
        return StudyResult(study.name, "rd", outcome, "t0", "t1", ())

    import llem.run.study

    monkeypatch.setattr(llem.run.study, "run_study", fake_run_study)
    result = invoke("run", "--model", "builtin:tiny-llama", "--backend", "alpha")
    assert result.exit_code == code, result.output


def test_resume_calls_resume_study(monkeypatch, tmp_path):
    calls = []

    def fake_resume(run_dir, progress=True):
        calls.append(run_dir)
        return StudyResult("s", str(run_dir), "complete", "t0", "t1", ())

    import llem.run.study

    monkeypatch.setattr(llem.run.study, "resume_study", fake_resume)
    result = invoke("run", "--resume", str(tmp_path))
    assert result.exit_code == 0 and calls == [tmp_path]


def test_llem_config_lists_plugins_gpus_and_user_config(monkeypatch, tmp_path):
    eps = [
        *standard_entry_points(),
        FakeEntryPoint("vllm", ImportError("No module named 'vllm_thing'"), "llem-vllm", "0.1.0"),
        FakeEntryPoint("zeus", object(), "llem-zeus", "0.2"),
    ]
    use_fake_plugins(monkeypatch, eps, only="alpha,beta,meters,vllm")
    user = tmp_path / "user.yaml"
    user.write_text("output: {dir: /data}\n")
    monkeypatch.setenv("LLEM_USER_CONFIG", str(user))
    result = invoke("config")
    assert result.exit_code == 0, result.output
    lines = {
        line.strip("│┃ ").split()[0]: line
        for line in result.output.splitlines()
        if line.strip("│┃ ")
    }
    assert (
        "backend:alpha" in lines["alpha"]
        and "llem-alpha" in lines["alpha"]
        and "ok" in lines["alpha"]
    )
    assert "missing requirement" in lines["beta"] and "pip install betaengine" in lines["beta"]
    assert "broken" in lines["vllm"] and "No module named 'vllm_thing'" in lines["vllm"]
    assert "disabled" in lines["zeus"]
    assert "not installed" in lines["trtllm"] and "pip install llem-trtllm" in lines["trtllm"]
    assert "meter:nvml" in result.output and "(built-in)" in result.output
    assert "no GPU seen" in result.output
    assert f"user config: {user}:" in result.output and "dir: /data" in result.output


def test_llem_config_without_user_config_says_none(monkeypatch, tmp_path):
    monkeypatch.setenv("LLEM_USER_CONFIG", str(tmp_path / "absent.yaml"))
    result = invoke("config")
    assert result.exit_code == 0
    assert f"user config: {tmp_path / 'absent.yaml'}: none" in result.output
