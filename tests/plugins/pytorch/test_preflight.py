"""preflight(): what stops an experiment before any model is built, and what does not."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from llem.config.schema import DatasetConfig, WarmupConfig
from llem_pytorch.backend import PytorchBackend
from llem_pytorch.config import PytorchConfig


def problems(cfg, **section) -> list[str]:
    found = PytorchBackend(PytorchConfig(**section)).preflight(cfg)
    return [p.message + " | " + p.fix for p in found]


def test_tiny_model_on_a_cpu_machine_has_no_problems(make_cfg) -> None:
    # devices: [0] is the default; without CUDA the backend runs on the CPU
    assert problems(make_cfg(devices=(0,))) == []
    assert PytorchBackend.missing_requirement() is None


def test_builtin_models_need_random_weights(make_cfg) -> None:
    (found,) = problems(make_cfg(weights="pretrained"))
    assert "without weights" in found and "weights: random" in found


def test_unknown_builtin_lists_the_catalogue(make_cfg) -> None:
    (found,) = problems(make_cfg(model="builtin:llama-9"))
    assert "unknown built-in model 'builtin:llama-9'" in found and "builtin:llama-3.2-1b" in found


def test_text_prompts_need_a_tokenizer(make_cfg, tmp_path: Path) -> None:
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": "hi"}\n')
    text = DatasetConfig(source="jsonl", path=str(data))
    (found,) = problems(make_cfg(model="builtin:llama-3.2-1b", dataset=text))
    assert "need a tokenizer" in found and "ships no tokenizer" in found
    assert problems(make_cfg(dataset=text)) == []  # tiny-llama has one


def test_local_directory_needs_config_and_weights(make_cfg, tmp_path: Path) -> None:
    (found,) = problems(make_cfg(model=str(tmp_path)))
    assert "no config.json" in found
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (found,) = problems(make_cfg(model=str(tmp_path), weights="pretrained"))
    assert "no weight files" in found
    assert problems(make_cfg(model=str(tmp_path), weights="random")) == []


@pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed here"
)
def test_quantization_on_a_cpu_without_bitsandbytes_says_each_reason(make_cfg) -> None:
    found = problems(make_cfg(weights="random"), quantization="4bit")
    joined = "\n".join(found)
    assert "pip install bitsandbytes" in joined
    assert "needs a CUDA GPU" in joined
    assert "needs weights: pretrained" in joined


def test_gpu_only_features_are_problems_on_a_cpu(make_cfg) -> None:
    found = "\n".join(problems(make_cfg(), attn_implementation="flash_attention_2"))
    assert "needs a CUDA GPU" in found and "fp16 and bf16 only" in found
    found = "\n".join(problems(make_cfg(warmup=WarmupConfig(runs=0)), torch_compile=True))
    assert "torch_compile" in found and "warmup.runs" in found


def test_devices_that_do_not_exist(make_cfg, fake_gpus) -> None:
    fake_gpus(count=2)
    (found,) = problems(make_cfg(devices=(3,)))
    assert "devices [3] do not exist" in found and "2 CUDA device(s)" in found


@pytest.mark.skipif(
    importlib.util.find_spec("accelerate") is not None, reason="accelerate is installed here"
)
def test_several_gpus_need_accelerate(make_cfg, fake_gpus) -> None:
    fake_gpus(count=2)
    (found,) = problems(make_cfg(devices=(0, 1)))
    assert "pip install accelerate" in found


def test_memory_estimate_stops_a_model_that_cannot_fit(make_cfg, fake_gpus) -> None:
    fake_gpus(count=1, memory_gib=16)
    cfg = make_cfg(model="builtin:llama-3.1-8b", precision="bf16", devices=(0,))
    (found,) = problems(cfg)
    assert "builtin:llama-3.1-8b at bf16 needs about" in found and "16.0 GiB" in found
    assert problems(make_cfg(model="builtin:llama-3.2-1b", precision="bf16", devices=(0,))) == []
