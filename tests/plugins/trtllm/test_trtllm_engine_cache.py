"""Engine cache keys: what changes an engine changes the key, nothing else does."""

from __future__ import annotations

import attrs
from llem_trtllm.config import TrtllmConfig
from llem_trtllm.engine_cache import default_cache_dir, engine_dir, engine_key, key_inputs

TENSORRT = TrtllmConfig(backend="tensorrt")


def key(section=TENSORRT, version="1.1.0", dtype="bfloat16"):
    return engine_key(key_inputs("builtin:llama-3.2-1b", "fp", "random", dtype, section, version))


def test_build_options_and_the_version_change_the_key():
    base = key()
    assert key(version="1.2.0") != base
    assert key(dtype="float16") != base
    for change in (
        {"max_batch_size": 8},
        {"max_num_tokens": 4096},
        {"quantization": "FP8"},
        {"tensor_parallel_size": 2},
        {"extra": {"build_config": {"x": 1}}},
    ):
        assert key(attrs.evolve(TrtllmConfig(backend="tensorrt"), **change)) != base


def test_runtime_options_do_not_change_the_key():
    base = key()
    for change in (
        {"kv_cache_free_gpu_memory_fraction": 0.5},
        {"enable_block_reuse": False},
        {"request_metrics": False},
        {"engine_cache_dir": "/x"},
        {"extra": {"kv_cache_config": {"host_cache_size": 1}}},
    ):
        assert key(attrs.evolve(TrtllmConfig(backend="tensorrt"), **change)) == base


def test_directory_names_are_readable_and_the_default_follows_xdg(monkeypatch, tmp_path):
    assert engine_dir(tmp_path, "builtin:llama-3.2-1b", "abc").name == "llama-3.2-1b-abc"
    assert engine_dir(tmp_path, "/models/Qwen 7B/", "k").name == "Qwen-7B-k"
    monkeypatch.delenv("LLEM_TRTLLM_ENGINE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "llem" / "trtllm-engines"
