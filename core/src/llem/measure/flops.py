"""FLOPs of the workload as reference metadata (never measured; labelled with a method).

Dense part (PaLM, Chowdhery et al. 2022, appendix B, forward pass only):
2 x N x tokens, N the backend's parameter count, tokens = input + output tokens of all
requests (each token passes through the network once with a KV cache).
Attention part, when the architecture is known (num_hidden_layers L, heads H, head_dim
Q): a token at context position t costs 4 x L x H x Q x t (QK^T and AV), summed over
the positions of every request (causal; a dense prefill kernel computes more).

Confidence: high (N and the architecture known), medium (N only: attention left out),
low (a mixture-of-experts model, whose active parameters per token are fewer than N).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from llem.interfaces import RequestRecord
from llem.results.schema import Flops

MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def estimate_flops(
    num_parameters: int | None,
    records: Sequence[RequestRecord],
    architecture: Mapping[str, Any] | None,
) -> Flops:
    out_tokens = sum(r.output_tokens for r in records)
    if not num_parameters:
        return Flops(None, None, "unavailable: the backend did not report num_parameters", "low")
    tokens = sum(r.input_tokens + r.output_tokens for r in records)
    total = 2.0 * num_parameters * tokens
    method = "palm_2N_per_token"
    confidence: Literal["high", "medium", "low"] = "medium"
    attention = attention_flops(records, architecture)
    if attention is not None:
        total += attention
        method = "palm_2N_per_token+causal_attention"
        confidence = "high"
    if architecture and any(architecture.get(k) for k in MOE_KEYS):
        confidence = "low"
        method += " (mixture of experts: N counts every expert)"
    return Flops(
        total=total,
        per_output_token=total / out_tokens if out_tokens else None,
        method=method,
        confidence=confidence,
    )


def attention_flops(
    records: Sequence[RequestRecord], architecture: Mapping[str, Any] | None
) -> float | None:
    if not architecture:
        return None
    try:
        layers = int(architecture["num_hidden_layers"])
        heads = int(architecture["num_attention_heads"])
        head_dim = int(architecture.get("head_dim") or int(architecture["hidden_size"]) // heads)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    per_position = 4.0 * layers * heads * head_dim
    return sum(
        per_position * n * (n + 1) / 2.0
        for n in (r.input_tokens + r.output_tokens for r in records)
    )


def load_architecture(model: str) -> Mapping[str, Any] | None:
    """The model's architecture config when llem knows it (llem.architectures), else None."""
    try:
        from llem.architectures import load_architecture as load
    except ImportError:
        return None
    try:
        return load(model)
    except Exception:
        return None
