"""VllmBackend against the fake vLLM: preflight, load, one-call generate, timing, close."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import attrs
import pytest
from llem.config.schema import DatasetConfig, ExperimentConfig, GenerationConfig
from llem.errors import ConfigError
from llem.testing import check_records, synthetic_requests
from llem_vllm.backend import VllmBackend
from llem_vllm.config import VllmConfig
from llem_vllm.timing import SOURCE_DERIVED, SOURCE_METRICS
from llem_vllm_testutil import DATA, fake_devices, tiny_model

pytestmark = pytest.mark.usefixtures("fake_vllm")


def experiment(section=None, **kw):
    base = ExperimentConfig(
        model=tiny_model(),
        backend="vllm",
        weights="random",
        sections={"vllm": section or VllmConfig()},
        generation=GenerationConfig(max_new_tokens=6),
    )
    return attrs.evolve(base, **kw)


def run(backend, cfg, devices, n=3, gen=None):
    gen = gen or cfg.generation
    requests = synthetic_requests(n, 8, gen.max_new_tokens, backend.vocab_size)
    t0 = time.perf_counter_ns()
    records = backend.generate(requests, gen)
    check_records(requests, records, gen, t0, time.perf_counter_ns())
    return records


def test_preflight_says_what_is_wrong_and_how_to_fix_it(tmp_path):
    backend = VllmBackend(VllmConfig(tensor_parallel_size=2))
    cfg = experiment(weights="pretrained", dataset=DatasetConfig(source="jsonl", path="p.jsonl"))
    messages = [p.message for p in backend.preflight(cfg)]
    assert any("tensor_parallel_size x pipeline_parallel_size = 2" in m for m in messages)
    assert any("architecture without weights" in m for m in messages)
    assert any("no tokenizer" in m for m in messages)
    fixes = " ".join(p.fix for p in backend.preflight(cfg))
    assert "devices: [0, 1]" in fixes and "weights: random" in fixes
    (tmp_path / "empty").mkdir()
    problems = VllmBackend().preflight(experiment(model=str(tmp_path / "empty")))
    assert [p.message for p in problems] == [f"{tmp_path / 'empty'} has no config.json"]


def test_the_whole_workload_goes_to_one_generate_call(fake_vllm, monkeypatch):
    calls = []
    original = fake_vllm.LLM.generate

    def spy(self, prompts, params, **kw):
        calls.append((len(prompts), kw))
        return original(self, prompts, params, **kw)

    monkeypatch.setattr(fake_vllm.LLM, "generate", spy)
    backend = VllmBackend(VllmConfig(max_num_seqs=2))
    cfg = experiment(VllmConfig(max_num_seqs=2))
    backend.load(cfg, fake_devices(1))
    try:
        records = run(backend, cfg, fake_devices(1), n=7)
    finally:
        backend.close()
    assert calls == [(7, {"use_tqdm": False})]
    assert {r.timing_source for r in records} == {SOURCE_METRICS}
    # more requests than max_num_seqs: the later ones waited in vLLM's queue
    ttft = sorted(r.t_first_token_ns - r.t_submit_ns for r in records)
    assert ttft[-1] > ttft[0]
    assert backend.load_details["llm_kwargs"]["load_format"] == "dummy"
    assert set(backend.last_timing) == {"prepare_s", "engine_s", "records_s"}


def test_without_request_metrics_times_are_derived_and_labelled():
    section = VllmConfig(request_metrics=False)
    backend = VllmBackend(section)
    cfg = experiment(section)
    backend.load(cfg, fake_devices(1))
    try:
        records = run(backend, cfg, fake_devices(1))
    finally:
        backend.close()
    assert {r.timing_source for r in records} == {SOURCE_DERIVED}
    assert {r.t_first_token_ns for r in records} == {None}


def test_close_returns_the_gpu_memory_and_restores_the_device_mask(monkeypatch):
    from vllm import _llem_fake

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    section = VllmConfig(tensor_parallel_size=2)
    devices = fake_devices(4)[2:]
    backend = VllmBackend(section)
    cfg = experiment(section, devices=(2, 3))
    assert backend.preflight(cfg) == []
    backend.load(cfg, devices)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert backend.load_details["cuda_visible_devices"] == "2,3"
    assert _llem_fake.allocated_bytes() > 0
    run(backend, cfg, devices)
    backend.close()
    assert _llem_fake.allocated_bytes() == 0 and _llem_fake.live_engines() == 0
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    from vllm.distributed import parallel_state

    assert parallel_state.calls["destroy_model_parallel"] == 1


def test_a_failed_load_cleans_up_what_it_made(monkeypatch):
    from vllm import _llem_fake

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    section = VllmConfig(extra={"no_such_vllm_arg": 1})
    backend = VllmBackend(section)
    with pytest.raises(TypeError, match="no_such_vllm_arg"):
        backend.load(experiment(section, devices=(1,)), fake_devices(2)[1:])
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert _llem_fake.live_engines() == 0


def test_an_unknown_quantization_is_a_config_error_before_the_engine_starts():
    from vllm import _llem_fake

    section = VllmConfig(quantization="int3_magic")
    with pytest.raises(ConfigError, match="int3_magic.*use one of"):
        VllmBackend(section).load(experiment(section), fake_devices(1))
    assert _llem_fake.live_engines() == 0


def test_text_prompts_go_through_the_model_tokenizer(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text((DATA / "tiny-llama" / "config.json").read_text())
    (model / "tokenizer.json").write_text(json.dumps({"model": {}}))
    (model / "model.safetensors").write_bytes(b"\0")
    section = VllmConfig(detokenize=True)
    cfg = experiment(
        section,
        model=str(model),
        weights="pretrained",
        dataset=DatasetConfig(source="jsonl", path="x.jsonl"),
    )
    backend = VllmBackend(section)
    assert backend.preflight(cfg) == []
    backend.load(cfg, fake_devices(1))
    try:
        from llem.interfaces import Request

        reqs = [Request(i, f"hello {i}", None, 4) for i in range(3)]
        t0 = time.perf_counter_ns()
        records = backend.generate(reqs, GenerationConfig(max_new_tokens=4))
        check_records(reqs, records, GenerationConfig(max_new_tokens=4), t0, time.perf_counter_ns())
        assert backend.load_details["llm_kwargs"]["skip_tokenizer_init"] is False
    finally:
        backend.close()


def test_builtin_architecture_becomes_a_temporary_model_dir_removed_at_close():
    backend = VllmBackend()
    cfg = experiment()
    backend.load(cfg, fake_devices(1))
    model_dir = backend.load_details["llm_kwargs"]["model"]
    assert json.loads((Path(model_dir) / "config.json").read_text())["architectures"]
    assert backend.vocab_size > 0 and backend.num_parameters > 0
    backend.close()
    if cfg.model.startswith("builtin:"):
        assert not os.path.exists(model_dir)
