"""Loading a config file: what loads, and what each error says."""

from __future__ import annotations

import re

import pytest
from llem.config.loader import config_from_args, load_config, loads
from llem.config.schema import ExperimentConfig, StudyConfig
from llem.errors import ConfigError

from tests.core.config.fake_plugins import AlphaConfig, GaugeConfig


def error_of(write, text: str, **kw) -> str:
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, **kw)
    assert info.value.exit_code == 2
    return str(info.value)


def test_single_experiment_is_a_study_of_one(write):
    path = write("model: builtin:tiny-llama\nbackend: alpha\nprecision: fp16\n", "one.yaml")
    study = load_config(path)
    assert isinstance(study, StudyConfig)
    assert study.name == "one"
    assert len(study.experiments) == 1
    cfg = study.experiments[0]
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.precision == "fp16"
    assert cfg.section("alpha") == AlphaConfig()  # the backend always gets its section
    assert study.source_path == str(path)
    assert study.source_text == path.read_text()


def test_unknown_key_error_names_line_column_and_suggestion(write):
    msg = error_of(write, "model: m\nbackend: alpha\ngeneraton:\n  max_new_tokens: 4\n")
    assert re.search(
        r"config\.yaml:3:1: unknown key 'generaton'; did you mean 'generation'\?", msg
    ), msg
    assert "expected one of:" in msg


def test_nested_unknown_key_points_at_the_key(write):
    msg = error_of(write, "model: m\nbackend: alpha\ngeneration:\n  max_new_token: 4\n")
    assert (
        "config.yaml:4:3: generation.max_new_token: unknown key 'max_new_token'; "
        "did you mean 'max_new_tokens'?" in msg
    )


def test_wrong_literal_names_options_and_suggestion(write):
    msg = error_of(write, "model: m\nbackend: alpha\nprecision: fp61\n")
    assert (
        "config.yaml:3:12: precision: expected one of fp32, fp16, bf16, got 'fp61'; "
        "did you mean 'fp16'?" in msg
    )


def test_range_error_names_value_position(write):
    msg = error_of(write, "model: m\nbackend: alpha\nwarmup:\n  runs: -1\n")
    assert "config.yaml:4:9: warmup.runs: must be >= 0, got -1" in msg


def test_cross_field_min_le_max_points_at_the_first_field(write):
    msg = error_of(
        write, "model: m\nbackend: alpha\ngeneration:\n  max_new_tokens: 8\n  min_new_tokens: 16\n"
    )
    assert (
        msg.startswith(
            "config.yaml:5:19: generation.min_new_tokens (16) must be <= "
            "generation.max_new_tokens (8)"
        )
        or "config.yaml:5:19: generation.min_new_tokens (16) must be <=" in msg
    )


def test_cross_field_rule_in_a_plugin_section(write):
    msg = error_of(write, "model: m\nbackend: alpha\nalpha:\n  min_len: 9\n  max_len: 3\n")
    assert "config.yaml:4:12: alpha.min_len (9) must be <= alpha.max_len (3)" in msg


def test_strict_scalars(write):
    msg = error_of(
        write,
        "model: m\nbackend: alpha\nalpha: {batch_size: 8.5}\ngeneration: {ignore_eos: 'no'}\n",
    )
    assert "alpha.batch_size: expected an integer, got 8.5 (float)" in msg
    assert "generation.ignore_eos: expected true or false, got 'no' (str)" in msg


def test_several_problems_are_reported_together(write):
    msg = error_of(
        write, "model: m\nbackend: alpha\nprecision: fp8\nwarmup: {runs: -1}\ndevices: '01'\n"
    )
    assert "(3 problems)" in msg
    assert "devices: expected a list, got '01' (str)" in msg


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object:os.system {x: 1}",
        "!!python/name:os.system ''",
        "!!python/object/apply:os.system ['echo hi']",
        "!custom 3",
    ],
)
def test_python_and_custom_tags_are_rejected(write, tag):
    msg = error_of(write, f"model: m\nbackend: alpha\nextra: {tag}\n")
    assert "config.yaml:3:8: extra: the YAML tag" in msg and "is not allowed" in msg


def test_invalid_yaml_names_the_position(write):
    msg = error_of(write, "model: m\nbackend: [alpha\n")
    assert "config.yaml:3:1: not valid YAML" in msg


def test_missing_model_and_empty_and_non_mapping(write):
    assert "model: required key missing" in error_of(write, "backend: alpha\n")
    assert "empty" in error_of(write, "")
    assert "a config is a mapping" in error_of(write, "- a\n- b\n")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_known_plugin_not_installed_says_what_to_install(write):
    msg = error_of(write, "model: m\nbackend: alpha\nvllm:\n  max_num_seqs: 8\n")
    assert "config.yaml:3:1: section 'vllm' cannot be used" in msg
    assert "pip install llem-vllm" in msg


def test_backend_of_missing_plugin_says_what_to_install(write):
    msg = error_of(write, "model: m\nbackend: trtllm\n")
    assert "config.yaml:2:10: backend 'trtllm' cannot be used" in msg
    assert "pip install llem-trtllm" in msg


def test_unknown_backend_suggests_a_close_name(write):
    msg = error_of(write, "model: m\nbackend: alpah\n")
    assert "no backend named 'alpah' is installed; did you mean 'alpha'?" in msg


def test_disabled_plugin_section_names_llem_plugins(write, monkeypatch):
    from tests.core.config.fake_plugins import use_fake_plugins

    use_fake_plugins(monkeypatch, only="alpha")
    msg = error_of(write, "model: m\nbackend: alpha\nmeters: {}\ngauge: {measure_cpu: false}\n")
    assert (
        "config.yaml:3:1: section 'meters' cannot be used: plugin meters (llem-meters) "
        "is disabled: LLEM_PLUGINS='alpha' does not name it" in msg
    )
    assert "config.yaml:4:1: unknown key 'gauge'" in msg
    assert "LLEM_PLUGINS leaves out beta, meters: one of them may provide it" in msg


def test_meter_section_is_structured_and_kept(write):
    study = load_config(write("model: m\nbackend: alpha\ngauge: {measure_cpu: false}\n"))
    assert study.experiments[0].section("gauge") == GaugeConfig(measure_cpu=False)


def test_component_without_section_refuses_one(write):
    msg = error_of(write, "model: m\nbackend: alpha\nplain: {x: 1}\n")
    assert "the meter 'plain' takes no configuration section" in msg


def test_meter_and_sink_names_are_checked(write):
    msg = error_of(
        write,
        "model: m\nbackend: alpha\nenergy: {meter: gauje, cross_check: [nvml,"
        " zeus]}\noutput: {sinks: [json, parket]}\n",
    )
    assert "energy.meter: no meter named 'gauje' is installed; did you mean 'gauge'?" in msg
    assert "energy.cross_check[1]: meter 'zeus' cannot be used" in msg
    assert "pip install llem-zeus" in msg
    assert "output.sinks[1]: no sink named 'parket' is installed; did you mean 'parquet'?" in msg


def test_builtin_model_names_are_validated(write):
    assert load_config(write("model: builtin:tiny-llama\nbackend: alpha\n")).experiments
    msg = error_of(write, "model: builtin:tiny-lama\nbackend: alpha\n")
    assert (
        "config.yaml:1:8: model: no built-in model named 'tiny-lama'; "
        "did you mean 'builtin:tiny-llama'?" in msg
    )


def test_methodology_shortcuts_are_legal(write):
    study = load_config(
        write(
            "model: m\nbackend: alpha\nwarmup: {runs: 0, thermal_floor_s: 0}\n"
            "baseline: {enabled: false}\nexecution: {cycles: 1}\n"
        )
    )
    cfg = study.experiments[0]
    assert cfg.warmup.thermal_floor_s == 0 and not cfg.baseline.enabled
    assert study.execution.cycles == 1


def test_other_backends_sections_are_dropped(write):
    study = load_config(write("model: m\nbackend: alpha\nbeta: {max_num_seqs: 4}\n"))
    assert set(study.experiments[0].sections) == {"alpha"}


def test_config_from_args_builds_a_study_of_one():
    study = config_from_args(
        "builtin:tiny-llama", "alpha", ["generation.max_new_tokens=7"], "quick"
    )
    cfg = study.experiments[0]
    assert study.name == "tiny-llama"
    assert cfg.generation.max_new_tokens == 7
    assert study.overrides == ("generation.max_new_tokens=7",)
    assert study.profile == "quick"
    assert study.source_path is None
    assert "builtin:tiny-llama" in (study.source_text or "")
    again = loads(study.source_text or "", overrides=study.overrides, profile="quick")
    assert again.experiments == study.experiments


def test_config_from_args_needs_a_model():
    with pytest.raises(ConfigError, match="--model"):
        config_from_args(None, None, (), None)


def test_name_sets_study_and_single_experiment_name(write):
    study = load_config(write("name: mine\nmodel: m\nbackend: alpha\n"))
    assert study.name == "mine" and study.experiments[0].name == "mine"


def test_experiment_level_execution_and_output_are_accepted(write):
    """What llem writes to config.yaml for a study built in Python loads back."""
    study = load_config(
        write(
            "name: t\nexecution: {cycles: 2}\nexperiments:\n"
            "  - {model: m, backend: alpha, execution: {cycles: 2}, output: {dir: r}, name: a}\n"
        )
    )
    assert study.execution.cycles == 2
    assert study.experiments[0].name == "a"


def test_recorded_trailer_of_a_run_dir_config_still_loads(write):
    text = "model: m\nbackend: alpha\n\n# --- recorded by llem ---\n# --set x=1\n"
    assert load_config(write(text)).experiments


def test_devices_must_be_distinct_non_negative(write):
    msg = error_of(write, "model: m\nbackend: alpha\ndevices: [0, -1]\n")
    assert "config.yaml:3:10: devices must be distinct CUDA indices >= 0, got [0, -1]" in msg
    cpu = load_config(write("model: m\nbackend: alpha\ndevices: []\n")).experiments[0]
    assert cpu.devices == ()


def test_flag_errors_name_the_flag():
    with pytest.raises(
        ConfigError,
        match=r"^--model/--backend: model: no built-in model "
        r"named 'tiny'; did you mean 'builtin:tiny-llama'\?",
    ):
        config_from_args("builtin:tiny", "alpha", (), None)
    with pytest.raises(
        ConfigError,
        match=r"^--model/--backend: backend: no backend named "
        r"'alpah' is installed; did you mean 'alpha'\?",
    ):
        config_from_args("m", "alpah", (), None)


def test_default_backend_problem_says_it_is_the_default(write):
    msg = error_of(write, "model: m\n")
    assert "backend 'pytorch' cannot be used" in msg
    assert "pytorch is the default backend; choose another with backend: or --backend" in msg


def test_an_undecodable_model_flag_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^--model: the text holds U\+DCFF"):
        config_from_args("model\udcff")


# -- hardening (issue 18): non-finite floats, sizes, inputs checked at load ----------------


def _float_fields(cls: type, prefix: tuple[str, ...] = ()):
    """Every float field (dotted) reachable from an attrs class of the core schema."""
    import typing

    import attrs

    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint = hints[field.name]
        args = set(typing.get_args(hint)) or {hint}
        if float in args:
            yield ".".join((*prefix, field.name))
        for arg in args:
            if attrs.has(arg):
                yield from _float_fields(arg, (*prefix, field.name))


FLOAT_FIELDS = sorted(set(_float_fields(ExperimentConfig)))


def test_the_schema_has_the_float_fields_the_issue_named():
    for name in ("execution.timeout_s", "execution.config_gap_s", "warmup.thermal_floor_s"):
        assert name in FLOAT_FIELDS
    assert "warmup.cv_target" in FLOAT_FIELDS


@pytest.mark.parametrize("field", FLOAT_FIELDS)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinities_are_refused_in_every_float_field(write, field, value):
    head, *rest = field.split(".")
    body = f"{value}"
    for part in reversed(rest):
        body = f"{{{part}: {body}}}"
    text = f"model: builtin:tiny-llama\nbackend: alpha\n{head}: {body}\n"
    msg = error_of(write, text)
    assert f"{field}: expected a finite number" in msg and "config.yaml:3:" in msg


def test_absurd_numbers_are_refused(write):
    msg = error_of(write, "model: m\nbackend: alpha\ngeneration: {max_new_tokens: 1e40}\n")
    assert "generation.max_new_tokens: expected an integer" in msg
    msg = error_of(
        write, "model: m\nbackend: alpha\ngeneration: {max_new_tokens: " + "9" * 40 + "}\n"
    )
    assert "at most 2**63-1" in msg


def test_a_huge_sweep_is_refused_at_once_naming_the_limit_and_how_to_raise_it(write):
    import time

    values = ", ".join(str(i) for i in range(1, 1001))
    text = (
        "model: builtin:tiny-llama\nbackend: alpha\nsweep:\n"
        f"  generation.max_new_tokens: [{values}]\n  dataset.seed: [{values}]\n"
    )
    t0 = time.monotonic()
    msg = error_of(write, text)
    assert time.monotonic() - t0 < 5.0  # counted, not expanded: 3e6 runs would take hours
    assert "3,000,000 runs" in msg and "limit of 10,000 runs" in msg
    assert "LLEM_MAX_RUNS=3000000" in msg and "config.yaml:4:" in msg


def test_cycles_count_toward_the_run_limit(write, monkeypatch):
    msg = error_of(write, "model: m\nbackend: alpha\nexecution: {cycles: 1000000}\n")
    assert "1,000,000 runs" in msg and "execution.cycles" in msg and "LLEM_MAX_RUNS" in msg
    monkeypatch.setenv("LLEM_MAX_RUNS", "2000000")
    assert load_config(write("model: m\nbackend: alpha\nexecution: {cycles: 1000000}\n"))


def test_a_scoped_sweep_counts_only_its_backends_experiments(write, monkeypatch):
    monkeypatch.setenv("LLEM_MAX_RUNS", "9")  # 3 cycles x (2 alpha + 1 other) = 9
    text = "model: m\nsweep:\n  backend: [alpha, beta]\n  alpha.batch_size: [1, 2]\n"
    study = load_config(write(text))
    assert len(study.experiments) == 3
