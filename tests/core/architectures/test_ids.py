"""Model-id kinds, their offline checks, tokenizer presence and file-safe names."""

from __future__ import annotations

import json
from pathlib import Path

from llem import architectures


def test_kinds_are_builtin_local_directory_or_hub(tmp_path: Path) -> None:
    assert architectures.model_kind("builtin:llama-3.2-1b") == "builtin"
    assert architectures.model_kind(str(tmp_path)) == "local"
    assert architectures.model_kind("meta-llama/Llama-3.1-8B") == "hub"


def test_tokenizer_is_known_from_the_files_of_a_local_directory(tmp_path: Path) -> None:
    assert not architectures.has_tokenizer("builtin:tiny-llama")
    assert architectures.has_tokenizer("some/hub-model")
    assert not architectures.has_tokenizer(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("{}")
    assert architectures.has_tokenizer(str(tmp_path))


def test_problems_name_the_fix(tmp_path: Path) -> None:
    (unknown,) = architectures.model_problems("builtin:nope", "random", "dummy weights")
    assert "builtin:llama-3.2-1b" in unknown.fix
    (pretrained,) = architectures.model_problems("builtin:llama-3.2-1b", "pretrained", "dummy")
    assert "weights: random" in pretrained.fix and "dummy" in pretrained.fix
    (bare,) = architectures.model_problems(str(tmp_path), "pretrained", "dummy")
    assert "config.json" in bare.message
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert architectures.model_problems(str(tmp_path), "pretrained", "dummy") == []
    assert architectures.model_problems("some/hub-model", "pretrained", "dummy") == []


def test_model_slugs_are_short_and_file_safe() -> None:
    assert architectures.model_slug("builtin:llama-3.2-1b") == "llama-3.2-1b"
    assert architectures.model_slug("meta-llama/Llama-3.1-8B") == "Llama-3.1-8B"
    assert architectures.model_slug("/ckpt/run 7/") == "run-7"
    assert architectures.model_slug("///") == "model"
    assert architectures.slug("my study!", fill="_") == "my_study"


def test_a_builtin_becomes_a_config_only_checkpoint_that_cleanup_removes() -> None:
    source = architectures.engine_source("builtin:llama-3.2-1b", "llem-test-")
    assert source.temp_dir is not None and Path(source.model).name.startswith("llem-test-")
    written = json.loads((Path(source.model) / "config.json").read_text())
    assert written == source.architecture and not source.has_tokenizer
    source.cleanup()
    assert not Path(source.temp_dir).exists()


def test_a_local_directory_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    source = architectures.engine_source(str(tmp_path), "unused-")
    assert source.model == str(tmp_path.resolve()) and source.temp_dir is None
    assert source.architecture == {"model_type": "llama"}
    hub = architectures.engine_source("org/model", "unused-")
    assert hub.model == "org/model" and hub.architecture is None and hub.has_tokenizer


def test_text_prompts_need_a_tokenizer_the_engine_can_load(tmp_path: Path) -> None:
    (problem,) = architectures.prompt_problems("builtin:llama-3.2-1b", "jsonl", "vLLM")
    assert "no tokenizer vLLM can load" in problem.message and "synthetic" in problem.fix
    assert architectures.prompt_problems("builtin:llama-3.2-1b", "synthetic", "vLLM") == []
    assert architectures.prompt_problems("org/model", "jsonl", "vLLM") == []
