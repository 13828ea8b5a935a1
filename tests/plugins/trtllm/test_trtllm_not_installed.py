"""Without tensorrt_llm: a hint that says how to install it, and a preflight failure."""

from __future__ import annotations

import importlib.util

import pytest
from llem.config.schema import ExperimentConfig
from llem_trtllm.backend import TrtllmBackend

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_llm") is not None,
    reason="a real tensorrt_llm is installed here",
)


def test_missing_requirement_and_preflight_name_the_install_command():
    hint = TrtllmBackend.missing_requirement()
    assert hint.startswith("tensorrt_llm not installed: pip install tensorrt_llm")
    cfg = ExperimentConfig(model="builtin:tiny-llama", backend="trtllm", weights="random")
    assert [p.message for p in TrtllmBackend().preflight(cfg)] == [hint]
