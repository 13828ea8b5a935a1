"""User config, --set overrides and profiles: who wins, and where errors point."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.config.loader import load_config, loads
from llem.config.user import user_config_path
from llem.errors import ConfigError


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def _set(text: str) -> Path:
        path = tmp_path / "user.yaml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("LLEM_USER_CONFIG", str(path))
        return path

    return _set


def test_user_config_path_honours_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("LLEM_USER_CONFIG", str(tmp_path / "u.yaml"))
    assert user_config_path() == tmp_path / "u.yaml"
    monkeypatch.setenv("LLEM_USER_CONFIG", "")
    assert user_config_path() is None
    monkeypatch.delenv("LLEM_USER_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config_path() == tmp_path / "xdg" / "llem" / "config.yaml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_config_path() == tmp_path / "home" / ".config" / "llem" / "config.yaml"


def test_user_config_is_merged_under_the_file(user_config):
    user_config(
        "output: {dir: /data/llem}\nwarmup: {thermal_floor_s: 45}\n"
        "baseline: {duration_s: 10}\nexecution: {cycles: 4}\n"
    )
    study = loads("model: m\nbackend: alpha\nwarmup: {runs: 2}\nbaseline: {duration_s: 20}\n")
    cfg = study.experiments[0]
    assert cfg.output.dir == "/data/llem" and study.output.dir == "/data/llem"
    assert cfg.warmup.thermal_floor_s == 45 and cfg.warmup.runs == 2
    assert cfg.baseline.duration_s == 20  # the file wins
    assert study.execution.cycles == 4


def test_user_config_errors_name_the_user_config(user_config):
    path = user_config("warmup:\n  thermal_flor_s: 45\n")
    with pytest.raises(ConfigError) as info:
        loads("model: m\nbackend: alpha\n")
    assert (
        f"{path}:2:3: warmup.thermal_flor_s: unknown key 'thermal_flor_s'; did you mean "
        "'thermal_floor_s'?" in str(info.value)
    )


def test_user_config_may_not_hold_a_sweep(user_config):
    path = user_config("sweep: {precision: [fp16]}\n")
    with pytest.raises(ConfigError, match=f"{path}:1:1: sweep: belongs in a config file"):
        loads("model: m\nbackend: alpha\n")


def test_set_overrides_win_and_are_recorded(write):
    path = write("model: m\nbackend: alpha\ngeneration: {max_new_tokens: 8}\n")
    study = load_config(
        path,
        overrides=[
            "generation.max_new_tokens=64",
            "devices=[0, 1]",
            "alpha.batch_size=4",
            "energy.meter=",
        ],
    )
    cfg = study.experiments[0]
    assert cfg.generation.max_new_tokens == 64
    assert cfg.devices == (0, 1)
    assert cfg.section("alpha").batch_size == 4
    assert cfg.energy.meter is None
    assert study.overrides == (
        "generation.max_new_tokens=64",
        "devices=[0, 1]",
        "alpha.batch_size=4",
        "energy.meter=",
    )


def test_set_errors_name_the_flag(write):
    path = write("model: m\nbackend: alpha\n")
    with pytest.raises(ConfigError, match=r"--set warmup.runs=-2: warmup.runs: must be >= 0"):
        load_config(path, overrides=["warmup.runs=-2"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(path, overrides=["warmup.runs"])
    with pytest.raises(ConfigError, match="unknown key 'generaton'"):
        load_config(path, overrides=["generaton.max_new_tokens=3"])
    with pytest.raises(ConfigError, match="the YAML tag"):
        load_config(path, overrides=["extra=!!python/object:os.system {}"])


def test_set_name_renames_the_study(write):
    study = load_config(write("model: m\nbackend: alpha\n"), overrides=["name=renamed"])
    assert study.name == "renamed"


def test_quick_profile():
    study = loads("model: m\nbackend: alpha\nexecution: {cycles: 7}\n", profile="quick")
    cfg = study.experiments[0]
    assert study.profile == "quick"
    assert study.execution.cycles == 1
    assert study.execution.config_gap_s == 0 and study.execution.cycle_gap_s == 0
    assert cfg.warmup.runs == 1 and cfg.warmup.thermal_floor_s == 0
    assert not cfg.baseline.enabled


def test_publication_profile_raises_floors_and_keeps_larger_values():
    study = loads(
        "model: m\nbackend: alpha\nexecution: {cycles: 9}\nbaseline: {enabled: false}\n"
        "warmup: {thermal_floor_s: 10}\n",
        profile="publication",
    )
    cfg = study.experiments[0]
    assert study.execution.cycles == 9
    assert cfg.warmup.thermal_floor_s == 60 and cfg.baseline.enabled
    default = loads("model: m\nbackend: alpha\n", profile="publication")
    assert default.execution.cycles == 5


def test_set_wins_over_profile():
    study = loads("model: m\nbackend: alpha\n", profile="quick", overrides=["execution.cycles=2"])
    assert study.execution.cycles == 2


def test_unknown_profile():
    with pytest.raises(ConfigError, match="expected one of quick, standard, publication"):
        loads("model: m\nbackend: alpha\n", profile="fast")
