"""Sizes read off an architecture config: its shape, parameter count and KV-cache bytes.

Only decoder-only Llama-family configs (llama, mistral, qwen2, qwen3) are counted:
embeddings + per layer (attention with grouped-query K/V heads and the biases the
config has, gated MLP, two RMSNorms, qwen3's q/k norms) + final norm + an LM head
unless tied. Mixture-of-experts and other families are "unknown" (a reason, as a str),
never a guess. The counts equal transformers' own for every built-in architecture
(tests/plugins/pytorch/test_build.py compares them on the meta device).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

LLAMA_FAMILY = frozenset({"llama", "mistral", "qwen2", "qwen3"})


@attrs.frozen
class Shape:
    """The dimensions attention and the KV cache depend on."""

    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int


def shape(cfg: Mapping[str, Any]) -> Shape | str:
    """The Shape of a decoder config (any family), or which key it lacks."""
    try:
        hidden, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
        kv_heads = int(cfg.get("num_key_value_heads") or heads)
        head_dim = int(cfg.get("head_dim") or hidden // heads)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return f"config.json lacks a usable {exc}"
    return Shape(layers, heads, kv_heads, head_dim, hidden)


def count_parameters(cfg: Mapping[str, Any]) -> int | str:
    """Parameters of a Llama-family config, or why they cannot be counted (a str)."""
    kind = cfg.get("model_type")
    if kind not in LLAMA_FAMILY:
        return f"model_type {kind!r} is not counted (only {', '.join(sorted(LLAMA_FAMILY))})"
    dims = shape(cfg)
    if isinstance(dims, str):
        return dims
    try:
        vocab, inter = int(cfg["vocab_size"]), int(cfg["intermediate_size"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"config.json lacks a usable {exc}"
    h, q, kv = dims.hidden, dims.heads * dims.head_dim, dims.kv_heads * dims.head_dim
    attn = 2 * h * q + 2 * h * kv
    if cfg.get("attention_bias") or kind == "qwen2":  # Qwen2 always has q/k/v biases
        attn += q + 2 * kv + (h if cfg.get("attention_bias") else 0)
    mlp = 3 * h * inter + ((2 * inter + h) if cfg.get("mlp_bias") else 0)
    norms = 2 * h + (2 * dims.head_dim if kind == "qwen3" else 0)
    total = vocab * h + dims.layers * (attn + mlp + norms) + h
    if not cfg.get("tie_word_embeddings", False):
        total += vocab * h
    return total


def kv_cache_bytes(dims: Shape, tokens: int, bytes_per_value: float) -> float:
    """Bytes of K and V for ``tokens`` cached positions (summed over sequences)."""
    return 2.0 * dims.layers * dims.kv_heads * dims.head_dim * bytes_per_value * tokens
