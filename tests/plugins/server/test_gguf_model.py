"""The random-weight GGUF of a built-in architecture: shapes, vocabulary, exact prompts."""

from __future__ import annotations

import pytest
from llem.plugin import architectures
from llem_server.gguf_model import MAX_VOCAB, supported, text_for, vocabulary, write_gguf

gguf = pytest.importorskip("gguf")


def test_tiny_llama_is_written_with_its_shapes_and_a_vocabulary(tmp_path):
    arch = architectures.load_architecture("builtin:tiny-llama")
    path = write_gguf(arch, tmp_path / "m.gguf", "fp32")
    reader = gguf.GGUFReader(str(path))
    tensors = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    assert len(tensors) == 2 + 9 * arch["num_hidden_layers"]  # tied output: no output.weight
    assert tensors["token_embd.weight"] == (arch["hidden_size"], arch["vocab_size"])
    assert tensors["blk.0.attn_k.weight"] == (256, 4 * 32)
    fields = reader.fields
    tokens = fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == arch["vocab_size"]
    assert bool(fields["tokenizer.ggml.add_bos_token"].parts[-1][0]) is False
    assert int(fields["llama.block_count"].parts[-1][0]) == arch["num_hidden_layers"]


def test_the_vocabulary_is_one_distinct_character_per_token():
    pieces = vocabulary(512)
    assert pieces[:3] == ["<unk>", "<s>", "</s>"]
    assert len(set(pieces)) == 512 and all(len(p) == 1 for p in pieces[3:])


def test_a_prompt_has_one_character_per_token_id():
    assert len(text_for(list(range(100)), 512)) == 100
    assert set(text_for([0, 1, 2, 3, 511], 512)) <= set(vocabulary(512)[3:])


def test_only_llama_family_architectures_with_a_small_enough_vocab():
    assert supported({"model_type": "llama", "vocab_size": 512}) is None
    assert "Llama-family" in supported({"model_type": "gpt2", "vocab_size": 512})
    assert "vocab_size" in supported({"model_type": "llama", "vocab_size": MAX_VOCAB + 1})
