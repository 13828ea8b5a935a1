"""TrtllmBackend against the fake: arguments, timing, the engine cache, cleanup."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import attrs
import pytest
from llem.config.schema import DatasetConfig, ExperimentConfig, GenerationConfig
from llem.testing import check_records, synthetic_requests
from llem_trtllm.backend import TrtllmBackend
from llem_trtllm.config import TrtllmConfig
from llem_trtllm.timing import SOURCE_DERIVED, SOURCE_METRICS
from llem_trtllm_testutil import fake_devices

pytestmark = pytest.mark.usefixtures("fake_trtllm")


def experiment(section, **kw):
    base = ExperimentConfig(
        model="builtin:tiny-llama",
        backend="trtllm",
        weights="random",
        sections={"trtllm": section},
        generation=GenerationConfig(max_new_tokens=5),
    )
    return attrs.evolve(base, **kw)


def load_and_run(section, n=4, **kw):
    backend = TrtllmBackend(section)
    cfg = experiment(section, **kw)
    assert backend.preflight(cfg) == []
    backend.load(cfg, fake_devices(len(cfg.devices)))
    try:
        reqs = synthetic_requests(n, 8, 5, backend.vocab_size)
        t0 = time.perf_counter_ns()
        records = backend.generate(reqs, cfg.generation)
        check_records(reqs, records, cfg.generation, t0, time.perf_counter_ns())
    finally:
        backend.close()
    return backend, records


def test_perf_metrics_give_first_token_and_end_times():
    _, records = load_and_run(TrtllmConfig())
    assert {r.timing_source for r in records} == {SOURCE_METRICS}
    assert all(r.t_first_token_ns > r.t_submit_ns for r in records)


def test_without_perf_metrics_times_are_derived_and_labelled():
    _, records = load_and_run(TrtllmConfig(request_metrics=False))
    assert {r.timing_source for r in records} == {SOURCE_DERIVED}
    assert {r.t_first_token_ns for r in records} == {None}


def test_the_engine_is_built_once_then_loaded_from_the_cache(tmp_path):
    from tensorrt_llm import _llem_fake

    section = TrtllmConfig(
        backend="tensorrt", max_batch_size=4, engine_cache_dir=str(tmp_path / "cache")
    )
    first, _ = load_and_run(section)
    cache = first.load_details["engine_cache"]
    assert cache["hit"] is False and cache["build_s"] > 0
    assert first.engine_cache_path == cache["path"]
    assert cache["path"].startswith(str(tmp_path / "cache"))
    manifest = json.loads((Path(cache["path"]) / "llem-engine.json").read_text())
    assert manifest["tensorrt_llm"] == "1.1.0" and manifest["max_batch_size"] == 4
    # a runtime-only change (KV-cache fraction) reuses the engine
    second, _ = load_and_run(attrs.evolve(section, kv_cache_free_gpu_memory_fraction=0.5))
    assert second.load_details["engine_cache"] == {**cache, "hit": True, "build_s": None}
    # a build option changes the key
    third, _ = load_and_run(attrs.evolve(section, max_batch_size=8))
    assert third.load_details["engine_cache"]["path"] != cache["path"]
    assert len(_llem_fake.builds) == 2


def test_an_interrupted_build_is_rebuilt(tmp_path):
    section = TrtllmConfig(backend="tensorrt", engine_cache_dir=str(tmp_path))
    first, _ = load_and_run(section)
    path = first.engine_cache_path
    os.remove(os.path.join(path, "llem-engine.json"))
    again, _ = load_and_run(section)
    assert again.load_details["engine_cache"]["hit"] is False
    assert os.path.isfile(os.path.join(path, "llem-engine.json"))


def test_pytorch_flow_gets_limits_as_llm_arguments_and_no_build_config(fake_trtllm, monkeypatch):
    seen = {}
    original = fake_trtllm.LLM.__init__

    def spy(self, **kwargs):
        seen.update(kwargs)
        original(self, **kwargs)

    monkeypatch.setattr(fake_trtllm.LLM, "__init__", spy)
    section = TrtllmConfig(
        max_batch_size=3,
        max_num_tokens=256,
        quantization="FP8",
        kv_cache_free_gpu_memory_fraction=0.4,
        enable_block_reuse=False,
        extra={"kv_cache_config": {"host_cache_size": 1}},
    )
    load_and_run(section)
    assert seen["max_batch_size"] == 3 and seen["max_num_tokens"] == 256
    assert "build_config" not in seen
    assert seen["quant_config"].quant_algo.value == "FP8"
    kv = seen["kv_cache_config"]
    assert (kv.free_gpu_memory_fraction, kv.enable_block_reuse, kv.host_cache_size) == (
        0.4,
        False,
        1,
    )
    assert seen["load_format"] == "dummy" and seen["skip_tokenizer_init"] is True


def test_tensor_parallel_runs_on_the_measured_gpus_and_frees_them(monkeypatch):
    from tensorrt_llm import _llem_fake

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    section = TrtllmConfig(tensor_parallel_size=2)
    backend = TrtllmBackend(section)
    cfg = experiment(section, devices=(2, 3))
    assert backend.preflight(cfg) == []
    backend.load(cfg, fake_devices(4)[2:])
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"
    backend.close()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert _llem_fake.allocated_bytes() == 0


def test_preflight_explains_a_device_mismatch_and_text_prompts_without_tokenizer():
    section = TrtllmConfig(tensor_parallel_size=4)
    cfg = experiment(section, dataset=DatasetConfig(source="jsonl", path="x.jsonl"))
    messages = " ".join(p.message for p in TrtllmBackend(section).preflight(cfg))
    assert "= 4, but devices lists 1 GPU(s)" in messages and "no tokenizer" in messages
