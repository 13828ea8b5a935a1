"""Random-weight models: built from the catalogue, counted on meta, materialised."""

from __future__ import annotations

import time

import pytest
import torch
from llem_pytorch import build, model_source

# parameter counts of the published models (tied embeddings counted once)
PARAMETERS = {
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.1-8b": 8_030_261_248,
    "qwen2.5-7b": 7_615_616_512,
    "mistral-7b": 7_241_732_096,
}


def _config(name: str):
    return model_source.architecture(model_source.resolve(f"builtin:{name}"), {})


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_meta_build_has_the_published_parameter_count(name: str) -> None:
    model = build.random_model(_config(name), torch.bfloat16, "meta", None)
    assert build.count_parameters(model) == PARAMETERS[name]
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PARAMETERS) + ["tiny-llama"])
def test_the_core_toolkit_counts_what_transformers_builds(name: str) -> None:
    from llem import architectures

    model = build.random_model(_config(name), torch.bfloat16, "meta", None)
    arch = architectures.load_architecture(f"builtin:{name}")
    assert arch is not None
    assert architectures.count_parameters(arch) == build.count_parameters(model)


def test_llama_3_2_1b_keeps_its_architecture_through_transformers() -> None:
    model = build.random_model(_config("llama-3.2-1b"), torch.bfloat16, "meta", None)
    cfg = model.config
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_key_value_heads) == (2048, 16, 8)
    rope = getattr(cfg, "rope_parameters", None) or cfg.rope_scaling
    assert rope["rope_type"] == "llama3" and rope["factor"] == 32.0


def test_tiny_llama_builds_on_the_cpu_in_seconds_and_is_seeded() -> None:
    config = _config("tiny-llama")
    start = time.perf_counter()
    torch.manual_seed(0)
    first = build.random_model(config, torch.float32, "cpu", None)
    assert time.perf_counter() - start < 10
    assert 1_000_000 < build.count_parameters(first) < 10_000_000
    torch.manual_seed(0)
    second = build.random_model(config, torch.float32, "cpu", None)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_builds_in_the_requested_dtype_and_attention() -> None:
    model = build.random_model(_config("tiny-llama"), torch.bfloat16, "cpu", "eager")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "eager"


def test_materialize_gives_a_meta_model_real_weights_and_rope_buffers() -> None:
    config = _config("tiny-llama")
    reference = build.random_model(config, torch.float32, "cpu", None)
    model = build.random_model(config, torch.float32, "meta", None)
    names = [
        "model.embed_tokens",
        *(f"model.layers.{i}" for i in range(4)),
        "model.norm",
        "model.rotary_emb",
        "lm_head",
    ]
    build.materialize(model, {name: "cpu" for name in names})
    assert torch.equal(model.model.rotary_emb.inv_freq, reference.model.rotary_emb.inv_freq)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert torch.all(model.model.norm.weight == 1)
    std = model.model.layers[0].mlp.up_proj.weight.std().item()
    assert abs(std - config.initializer_range) < 0.005
    logits = model(torch.randint(0, 512, (2, 6))).logits
    assert logits.shape == (2, 6, 512) and torch.isfinite(logits).all()


def test_special_ids_prefer_generation_config_then_tokenizer_then_config() -> None:
    class Holder:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    gen, tok, cfg = (
        Holder(eos_token_id=[7, 9]),
        Holder(eos_token_id=5, pad_token_id=None),
        Holder(eos_token_id=3, pad_token_id=4),
    )
    assert build.special_ids(gen, cfg, tok) == ((7, 9), 4)
    assert build.special_ids(Holder(), Holder(), None) == ((), 0)
    assert build.special_ids(Holder(), Holder(eos_token_id=2), None) == ((2,), 2)
