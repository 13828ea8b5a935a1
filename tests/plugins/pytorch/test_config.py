"""The pytorch: section: defaults, and bad values rejected with messages that say how."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.errors import ConfigError
from llem_pytorch.config import PytorchConfig


def test_defaults_are_one_request_per_batch_left_padding_no_compile() -> None:
    cfg = PytorchConfig()
    assert (cfg.batch_size, cfg.padding_side, cfg.torch_compile) == (1, "left", False)
    assert cfg.effective_cache_implementation is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"batch_size": 0}, "batch_size"),
        (
            {"attn_implementation": "flash"},
            "pytorch.attn_implementation must be one of eager, sdpa",
        ),
        ({"device_map": "everywhere"}, "pytorch.device_map must be one of auto"),
        ({"quantization": "3bit"}, "pytorch.quantization must be one of 4bit, 8bit"),
        ({"cache_implementation": "paged"}, "pytorch.cache_implementation must be one of"),
        ({"padding_side": "middle"}, "pytorch.padding_side"),
        ({"compile_mode": "fast"}, "pytorch.compile_mode"),
        ({"from_pretrained_kwargs": {"torch_dtype": "float16"}}, "torch_dtype -> precision"),
        ({"from_pretrained_kwargs": {"device_map": "auto"}}, "device_map -> pytorch.device_map"),
        ({"torch_compile": True, "cache_implementation": "dynamic"}, "needs a static KV cache"),
    ],
)
def test_bad_values_are_rejected_with_the_fix(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        PytorchConfig(**kwargs)
    assert needle in str(info.value)


def test_compile_uses_a_static_cache_unless_told_otherwise() -> None:
    assert PytorchConfig(torch_compile=True).effective_cache_implementation == "static"
    cfg = PytorchConfig(torch_compile=True, cache_implementation="offloaded_static")
    assert cfg.effective_cache_implementation == "offloaded_static"


def test_section_loads_from_yaml_and_errors_name_the_line(tmp_path: Path) -> None:
    from llem.config.loader import load_config

    good = tmp_path / "good.yaml"
    good.write_text(
        "model: builtin:tiny-llama\nweights: random\npytorch:\n  batch_size: 8\n"
        "  attn_implementation: eager\n  from_pretrained_kwargs: {revision: main}\n"
    )
    section = load_config(good).experiments[0].section("pytorch")
    assert isinstance(section, PytorchConfig)
    assert (section.batch_size, section.attn_implementation) == (8, "eager")
    assert dict(section.from_pretrained_kwargs) == {"revision": "main"}

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: builtin:tiny-llama\nweights: random\npytorch:\n  batch_size: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "bad.yaml:4" in str(info.value) and "batch_size" in str(info.value)

    typo = tmp_path / "typo.yaml"
    typo.write_text("model: builtin:tiny-llama\nweights: random\npytorch:\n  batch_sise: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(typo)
    assert "batch_sise" in str(info.value)


def test_cpu_threads_must_be_positive() -> None:
    assert PytorchConfig(cpu_threads=1).cpu_threads == 1
    with pytest.raises(ValueError, match="cpu_threads"):
        PytorchConfig(cpu_threads=0)


def test_extra_may_not_set_what_llem_sets_and_says_where_it_comes_from() -> None:
    with pytest.raises(ValueError, match="max_new_tokens -> generation.max_new_tokens"):
        PytorchConfig(extra={"max_new_tokens": 3, "num_beams": 2})
    assert PytorchConfig(extra={"num_beams": 2}).extra == {"num_beams": 2}
