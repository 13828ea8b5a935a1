"""Local inputs are checked when the config loads (exit 2), with file:line."""

from __future__ import annotations

import pytest
from llem.config.loader import load_config
from llem.errors import ConfigError


def _error(write, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(text))
    assert info.value.exit_code == 2
    return str(info.value)


def _jsonl_config(path) -> str:
    return (
        f"model: builtin:tiny-llama\nbackend: alpha\n"
        f"dataset: {{source: jsonl, path: '{path}', num_prompts: 4}}\n"
    )


def test_a_missing_dataset_is_a_config_error_at_its_line(write, tmp_path):
    msg = _error(write, _jsonl_config(tmp_path / "nope.jsonl"))
    assert "config.yaml:3:" in msg and "no such file" in msg and "nope.jsonl" in msg


def test_a_non_utf8_line_names_the_dataset_file_and_line(write, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_bytes(b'{"prompt": "fine"}\n{"prompt": "caf\xe9"}\n')
    msg = _error(write, _jsonl_config(data))
    assert f"{data}:2:" in msg and "not UTF-8" in msg and "0xe9" in msg


def test_a_lone_surrogate_prompt_names_the_dataset_file_and_line(write, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": "ok"}\n\n{"prompt": "bad \\ud800"}\n', encoding="utf-8")
    msg = _error(write, _jsonl_config(data))
    assert f"{data}:3:" in msg and "U+D800" in msg


def test_a_good_dataset_loads(write, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": "one"}\n{"prompt": "two"}\n', encoding="utf-8")
    assert load_config(write(_jsonl_config(data))).experiments[0].dataset.path == str(data)


@pytest.mark.parametrize("model", ["./no-such-ckpt", "/nonexistent/ckpt", "~/no-such-llem-ckpt"])
def test_a_missing_local_model_path_is_not_reported_as_a_hub_id(write, model):
    msg = _error(write, f"model: '{model}'\nbackend: alpha\n")
    assert "config.yaml:1:" in msg and "reads as a local path (not found)" in msg


def test_a_hub_id_is_not_checked_locally(write):
    assert load_config(write("model: org/name\nbackend: alpha\n"))
