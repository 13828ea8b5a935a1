"""What config loading decides once, for every experiment: the built-in sinks, the
weights of a built-in architecture, the removed top-level ``extra``."""

from __future__ import annotations

import pytest
from llem.config.loader import load_config
from llem.errors import ConfigError


def error_of(write, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(text))
    assert info.value.exit_code == 2
    return str(info.value)


def test_user_sinks_are_added_to_the_built_in_json_and_parquet(write):
    study = load_config(write("model: m\nbackend: alpha\noutput: {sinks: [json]}\n"))
    assert study.output.sinks == ("json", "parquet")
    exp = load_config(write("model: m\nbackend: alpha\n")).experiments[0]
    assert exp.output.sinks == ("json", "parquet")


def test_an_unknown_sink_is_reported_at_its_own_position_in_the_file(write):
    msg = error_of(write, "model: m\nbackend: alpha\noutput:\n  sinks: [parquet, csvv]\n")
    assert "config.yaml:4:20: output.sinks[1]: no sink named 'csvv'" in msg


def test_a_built_in_architecture_with_pretrained_weights_fails_at_load(write):
    msg = error_of(write, "model: builtin:tiny-llama\nbackend: alpha\nweights: pretrained\n")
    assert "config.yaml:3:10: weights: builtin:tiny-llama is a built-in architecture" in msg
    assert "set weights: random" in msg


def test_a_built_in_architecture_without_weights_gets_random_weights(write):
    exp = load_config(write("model: builtin:tiny-llama\nbackend: alpha\n")).experiments[0]
    assert exp.weights == "random"
    hub = load_config(write("model: org/model\nbackend: alpha\n")).experiments[0]
    assert hub.weights == "pretrained"


def test_a_sweep_over_weights_of_a_built_in_fails_once_per_bad_experiment(write):
    msg = error_of(
        write, "model: builtin:tiny-llama\nbackend: alpha\nsweep: {weights: [random, pretrained]}\n"
    )
    assert msg.count("is a built-in architecture without weights") == 1


def test_the_old_top_level_extra_says_where_it_moved(write):
    msg = error_of(write, "model: m\nbackend: alpha\nextra: {num_beams: 2}\n")
    assert "config.yaml:3:1: the top-level `extra` was removed: it moved to <backend>.extra" in msg
