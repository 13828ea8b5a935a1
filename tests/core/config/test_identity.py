"""config_hash / config_to_dict: stable identity of a resolved experiment."""

from __future__ import annotations

import json
import re

import attrs
from llem.config.identity import config_hash, config_to_dict, varying_params
from llem.config.loader import loads
from llem.config.schema import ExecutionConfig, ExperimentConfig, OutputConfig

from tests.core.config.fake_plugins import AlphaConfig, GaugeConfig


def one(text: str) -> ExperimentConfig:
    return loads(text).experiments[0]


def test_hash_is_12_hex_and_stable_across_processes_and_spelling():
    a = one("model: m\nbackend: alpha\ngeneration: {temperature: 1}\n")
    b = one("backend: alpha\ngeneration:\n  temperature: 1.0\nmodel: m\nprecision: bf16\n")
    assert re.fullmatch(r"[0-9a-f]{12}", config_hash(a))
    assert config_hash(a) == config_hash(b)
    # pinned: changes only if the config schema or defaults change (then results change)
    assert config_hash(a) == config_hash(
        ExperimentConfig(model="m", backend="alpha", sections={"alpha": AlphaConfig()})
    )


def test_hash_ignores_execution_output_and_name():
    base = ExperimentConfig(model="m", backend="alpha", sections={"alpha": AlphaConfig()})
    other = attrs.evolve(
        base, name="x", execution=ExecutionConfig(cycles=9), output=OutputConfig(dir="elsewhere")
    )
    assert config_hash(base) == config_hash(other)


def test_hash_covers_plugin_sections_and_methodology():
    base = ExperimentConfig(model="m", backend="alpha", sections={"alpha": AlphaConfig()})
    h = config_hash(base)
    assert config_hash(attrs.evolve(base, sections={"alpha": AlphaConfig(batch_size=2)})) != h
    assert (
        config_hash(attrs.evolve(base, sections={"alpha": AlphaConfig(), "gauge": GaugeConfig()}))
        != h
    )
    assert config_hash(attrs.evolve(base, precision="fp16")) != h


def test_config_to_dict_is_plain_json_with_sections_as_top_level_keys():
    cfg = one("model: m\nbackend: alpha\nalpha: {batch_size: 4}\ngauge: {}\ndevices: [0, 1]\n")
    data = config_to_dict(cfg)
    assert "sections" not in data
    assert data["alpha"]["batch_size"] == 4 and data["gauge"] == {"measure_cpu": True}
    assert data["devices"] == [0, 1]
    assert json.loads(json.dumps(data)) == data


def test_config_to_dict_round_trips_through_yaml_loading():
    import io

    from ruamel.yaml import YAML

    cfg = one("model: m\nbackend: alpha\nalpha: {batch_size: 4, quantization: a}\n")
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump({"experiments": [config_to_dict(cfg)]}, buf)
    again = loads(buf.getvalue()).experiments[0]
    assert again == cfg and config_hash(again) == config_hash(cfg)


def test_varying_params_empty_for_a_single_experiment():
    assert varying_params([one("model: m\nbackend: alpha\n")]) == [{}]
