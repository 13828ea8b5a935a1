"""The vllm: section: defaults, ranges and cross-field rules are checked at load time."""

from __future__ import annotations

import pytest
from llem.converter import converter
from llem_vllm.config import VllmConfig


def test_defaults_leave_vllm_its_own_defaults():
    cfg = VllmConfig()
    assert cfg.world_size == 1
    assert cfg.gpu_memory_utilization == 0.9
    assert cfg.max_num_seqs is None and cfg.dtype is None and cfg.block_size is None
    assert cfg.request_metrics is True


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"gpu_memory_utilization": 1.01}, "(0, 1]"),
        ({"block_size": 24}, "block_size must be one of 1, 8, 16, 32, 64, 128, 256"),
        ({"kv_cache_dtype": "int4"}, "kv_cache_dtype must be one of"),
        ({"max_model_len": 0}, "max_model_len must be >= 1"),
        ({"max_num_seqs": 8, "max_num_batched_tokens": 4}, "must be >= vllm.max_num_seqs"),
        (
            {"enable_chunked_prefill": False, "max_num_batched_tokens": 512, "max_model_len": 4096},
            "chunked prefill off",
        ),
        ({"extra": {"model": "x"}}, "the model comes from `model:`"),
        ({"extra": {"block_size": 16}}, "use the vllm section's own keys"),
        ({"quantization": "FP8 please"}, "quantization"),
    ],
)
def test_bad_values_name_the_key_and_the_rule(data, words):
    with pytest.raises(Exception) as info:
        converter.structure(data, VllmConfig)
    text = repr(info.value) + "".join(repr(e) for e in getattr(info.value, "exceptions", ()))
    assert words in text


def test_extra_passes_anything_vllm_might_take():
    cfg = converter.structure({"extra": {"compilation_config": {"level": 3}}}, VllmConfig)
    assert cfg.extra == {"compilation_config": {"level": 3}}
