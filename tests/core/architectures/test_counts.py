"""Parameter counts, shapes and KV-cache bytes read off architecture configs."""

from __future__ import annotations

import pytest
from llem import architectures

# transformers' own counts (sum of numel on the meta device, tied embeddings once):
# the published sizes 1.24 B, 8.03 B, 7.24 B, 7.62 B
PUBLISHED = {
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.1-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
    "qwen2.5-7b": 7_615_616_512,
}
SMALL = dict(
    hidden_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=512,
    vocab_size=1000,
)
# transformers 5.17 meta-device counts of these small configs
VARIANTS = [
    ({"model_type": "qwen3", "head_dim": 96, "tie_word_embeddings": True}, 1_633_920),
    ({"model_type": "llama", "attention_bias": True, "mlp_bias": True}, 1_697_024),
    ({"model_type": "qwen2"}, 1_693_952),
    ({"model_type": "mistral", "head_dim": 32}, 1_496_320),
]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_builtin_counts_equal_the_published_sizes(name: str) -> None:
    cfg = architectures.load_architecture(architectures.BUILTIN_PREFIX + name)
    assert cfg is not None
    assert architectures.count_parameters(cfg) == PUBLISHED[name]


@pytest.mark.parametrize("extra,expected", VARIANTS)
def test_biases_qk_norms_and_head_dim_are_counted(extra: dict, expected: int) -> None:
    assert architectures.count_parameters({**SMALL, **extra}) == expected


def test_other_families_and_incomplete_configs_give_a_reason_not_a_number() -> None:
    assert "mixtral" in str(architectures.count_parameters({**SMALL, "model_type": "mixtral"}))
    missing = architectures.count_parameters({"model_type": "llama", "hidden_size": 8})
    assert isinstance(missing, str) and "num_hidden_layers" in missing


def test_shape_defaults_kv_heads_and_head_dim() -> None:
    dims = architectures.shape(
        {"hidden_size": 512, "num_hidden_layers": 3, "num_attention_heads": 8}
    )
    assert dims == architectures.Shape(layers=3, heads=8, kv_heads=8, head_dim=64, hidden=512)
    assert isinstance(architectures.shape({"hidden_size": 512}), str)


def test_kv_cache_bytes_of_llama_3_1_8b() -> None:
    cfg = architectures.load_architecture("builtin:llama-3.1-8b")
    assert cfg is not None
    dims = architectures.shape(cfg)
    assert isinstance(dims, architectures.Shape)
    # K and V x 32 layers x 8 KV heads x 128 dims x 2 bytes: 128 KiB per token
    assert architectures.kv_cache_bytes(dims, 1, 2.0) == 128 * 1024
    assert architectures.kv_cache_bytes(dims, 1000, 1.0) == 64 * 1024 * 1000
