"""The tokenizer shipped with builtin:tiny-llama loads offline and can be rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem import architectures
from llem_pytorch import tiny_tokenizer
from llem_pytorch.model_source import resolve


def test_shipped_files_exist_and_resolve_for_tiny_llama() -> None:
    directory = tiny_tokenizer.shipped_dir()
    assert (directory / "tokenizer.json").is_file()
    assert (directory / "tokenizer_config.json").is_file()
    assert resolve("builtin:tiny-llama").tokenizer == str(directory)


def test_loads_offline_with_auto_and_fast_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    for cls in (AutoTokenizer, PreTrainedTokenizerFast):
        tok = cls.from_pretrained(str(tiny_tokenizer.shipped_dir()))
        assert len(tok) == architectures.load_architecture("builtin:tiny-llama")["vocab_size"]
        assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
        text = "Energy per output token, measured in joules: 0.097 J."
        ids = tok(text)["input_ids"]
        assert 0 < len(ids) < len(text) and max(ids) < len(tok)
        assert tok.decode(ids) == text


def test_a_rebuild_gives_the_shipped_vocabulary(tmp_path: Path) -> None:
    tiny_tokenizer.build(tmp_path)
    shipped = json.loads((tiny_tokenizer.shipped_dir() / "tokenizer.json").read_text())
    rebuilt = json.loads((tmp_path / "tokenizer.json").read_text())
    assert rebuilt["model"]["vocab"] == shipped["model"]["vocab"]
    assert rebuilt["model"]["merges"] == shipped["model"]["merges"]
    assert json.loads((tmp_path / "tokenizer_config.json").read_text()) == json.loads(
        (tiny_tokenizer.shipped_dir() / "tokenizer_config.json").read_text()
    )
