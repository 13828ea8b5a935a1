"""A random-weight GGUF file of a built-in Llama-family architecture, for llama.cpp servers.

llama.cpp has no "dummy" load format: it reads weights and a vocabulary from one GGUF
file. llem writes one with the ``gguf`` package (llama.cpp's own writer): the
architecture's shapes with normally distributed weights (std ``initializer_range``),
and a vocabulary of ``vocab_size`` tokens that makes text prompts exact. llama.cpp
could load a file without one (``tokenizer.ggml.model = "none"``) for token-id
prompts, but its output would decode to nothing and llama-cpp-python's server only
takes text prompts. So the vocabulary is SentencePiece
style ("llama") with three control tokens (<unk> <s> </s>) and one distinct CJK
character per other token, no merges, no BOS and no space prefix added: a prompt of N
such characters tokenizes to exactly N tokens (``text_for`` builds it from token ids),
and every generated token decodes to one whole character, so each streamed chunk of
llama-cpp-python's server is one token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SPECIALS = ("<unk>", "<s>", "</s>")
FIRST_CHAR = 0x4E00  # CJK Unified Ideographs: 20,992 one-character, 3-byte UTF-8 pieces
MAX_VOCAB = len(SPECIALS) + 20_992
LLAMA_FAMILY = ("llama", "mistral")


def vocabulary(vocab_size: int) -> list[str]:
    """The token pieces: the control tokens, then one character per token id."""
    if not len(SPECIALS) < vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size {vocab_size} outside {len(SPECIALS) + 1}..{MAX_VOCAB}")
    return [*SPECIALS, *(chr(FIRST_CHAR + i) for i in range(vocab_size - len(SPECIALS)))]


def text_for(input_ids: Sequence[int], vocab_size: int) -> str:
    """A prompt that this vocabulary tokenizes to ``len(input_ids)`` tokens (ids of the
    control tokens are mapped onto characters: only the length matters for random
    weights)."""
    span = vocab_size - len(SPECIALS)
    return "".join(chr(FIRST_CHAR + (t - len(SPECIALS)) % span) for t in input_ids)


def supported(arch: Mapping[str, Any]) -> str | None:
    """None when ``arch`` can be written, else why not."""
    if arch.get("model_type") not in LLAMA_FAMILY:
        return f"model_type {arch.get('model_type')!r} (the GGUF writer knows Llama-family only)"
    if int(arch["vocab_size"]) > MAX_VOCAB:
        return f"vocab_size {arch['vocab_size']} (the generated vocabulary holds {MAX_VOCAB})"
    return None


def write_gguf(arch: Mapping[str, Any], path: Path, precision: str, seed: int = 0) -> Path:
    """Write ``arch`` with random weights to ``path`` (f32 for fp32, else f16: numpy has no
    bf16, and llama.cpp computes in its own types anyway)."""
    import gguf
    import numpy as np

    why = supported(arch)
    if why is not None:
        raise ValueError(f"cannot write a GGUF for {why}")
    hidden, heads = int(arch["hidden_size"]), int(arch["num_attention_heads"])
    kv_heads = int(arch.get("num_key_value_heads", heads))
    head_dim = int(arch.get("head_dim") or hidden // heads)
    vocab, layers = int(arch["vocab_size"]), int(arch["num_hidden_layers"])
    ffn = int(arch["intermediate_size"])
    dtype = np.float32 if precision == "fp32" else np.float16
    rng = np.random.default_rng(seed)
    std = float(arch.get("initializer_range", 0.02))

    def rand(*shape: int) -> Any:
        return rng.normal(0.0, std, size=shape).astype(dtype)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(int(arch.get("max_position_embeddings", 2048)))
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(arch.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(arch.get("rms_norm_eps", 1e-5)))
    w.add_vocab_size(vocab)
    w.add_file_type(
        gguf.LlamaFileType.ALL_F32 if dtype is np.float32 else gguf.LlamaFileType.MOSTLY_F16
    )
    _add_vocabulary(w, gguf, vocab)
    ones = np.ones(hidden, dtype=np.float32)  # norms stay f32, as llama.cpp's converter does
    w.add_tensor("token_embd.weight", rand(vocab, hidden))
    w.add_tensor("output_norm.weight", ones)
    if not arch.get("tie_word_embeddings", False):
        w.add_tensor("output.weight", rand(vocab, hidden))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", rand(heads * head_dim, hidden))
        w.add_tensor(f"blk.{i}.attn_k.weight", rand(kv_heads * head_dim, hidden))
        w.add_tensor(f"blk.{i}.attn_v.weight", rand(kv_heads * head_dim, hidden))
        w.add_tensor(f"blk.{i}.attn_output.weight", rand(hidden, heads * head_dim))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(ffn, hidden))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(ffn, hidden))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(hidden, ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _add_vocabulary(w: Any, gguf: Any, vocab: int) -> None:
    pieces = vocabulary(vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores([0.0] * vocab)
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    w.add_token_types(types + [gguf.TokenType.NORMAL] * (vocab - len(SPECIALS)))
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
