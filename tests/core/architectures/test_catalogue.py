"""The built-in architecture catalogue (llem.architectures): names, JSON, local directories."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from llem import architectures

# published config.json values on the Hugging Face hub
PUBLISHED = {
    "llama-3.2-1b": dict(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        vocab_size=128256,
        tie_word_embeddings=True,
        rope_theta=500000.0,
        max_position_embeddings=131072,
    ),
    "llama-3.1-8b": dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
        tie_word_embeddings=False,
        rope_theta=500000.0,
    ),
    "qwen2.5-7b": dict(
        hidden_size=3584,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
        tie_word_embeddings=False,
        rope_theta=1000000.0,
    ),
    "mistral-7b": dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=32000,
        sliding_window=4096,
        rope_theta=10000.0,
    ),
}


def test_catalogue_lists_the_contracted_models() -> None:
    assert architectures.BUILTIN_PREFIX == "builtin:"
    assert set(architectures.builtin_names()) >= {"tiny-llama", *PUBLISHED}
    assert architectures.builtin_names() == sorted(architectures.builtin_names())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_architectures_carry_the_published_values(name: str) -> None:
    arch = architectures.load_architecture(architectures.BUILTIN_PREFIX + name)
    assert arch is not None
    for key, value in PUBLISHED[name].items():
        assert arch[key] == value, (name, key)


def test_llama_3_2_1b_has_llama3_rope_scaling() -> None:
    arch = architectures.load_architecture("builtin:llama-3.2-1b")
    assert arch["rope_scaling"] == {
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    }


def test_tiny_llama_is_small_and_matches_its_tokenizer_vocabulary() -> None:
    arch = architectures.load_architecture("builtin:tiny-llama")
    assert arch["model_type"] == "llama" and arch["vocab_size"] == 512
    assert (arch["pad_token_id"], arch["bos_token_id"], arch["eos_token_id"]) == (0, 1, 2)


def test_each_call_returns_a_fresh_dict() -> None:
    first = architectures.load_architecture("builtin:tiny-llama")
    first["vocab_size"] = 1
    assert architectures.load_architecture("builtin:tiny-llama")["vocab_size"] == 512


def test_local_directory_and_json_file_and_unknown_ids(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 7}))
    assert architectures.load_architecture(str(tmp_path))["vocab_size"] == 7
    assert architectures.load_architecture(str(tmp_path / "config.json"))["vocab_size"] == 7
    assert architectures.load_architecture("builtin:no-such-model") is None
    assert architectures.load_architecture("meta-llama/Llama-3.2-1B") is None
    assert architectures.load_architecture(str(tmp_path / "missing")) is None
    assert (
        architectures.builtin_name("builtin:x") == "x" and architectures.builtin_name("x") is None
    )


def test_the_catalogue_imports_no_torch() -> None:
    import subprocess

    code = (
        "import sys, llem.architectures as m; m.load_architecture('builtin:llama-3.1-8b'); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
