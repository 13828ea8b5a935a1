"""Property: any YAML text either loads into a StudyConfig or raises ConfigError."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from llem.config.loader import loads
from llem.config.schema import StudyConfig
from llem.errors import ConfigError

KEYS = [
    "model",
    "backend",
    "precision",
    "weights",
    "name",
    "dataset",
    "generation",
    "warmup",
    "baseline",
    "energy",
    "carbon",
    "devices",
    "execution",
    "output",
    "extra",
    "sweep",
    "experiments",
    "alpha",
    "beta",
    "gauge",
    "plain",
    "vllm",
    "nvml",
    "max_new_tokens",
    "min_new_tokens",
    "num_prompts",
    "input_len",
    "input_len_min",
    "input_len_max",
    "batch_size",
    "min_len",
    "max_len",
    "cycles",
    "runs",
    "meter",
    "cross_check",
    "sinks",
    "source",
    "path",
    "thermal_floor_s",
    "enabled",
    "order",
    "alpha.batch_size",
    "generation.max_new_tokens",
    "precision",
    "x",
    "",
    "sections",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.integers(),
    st.floats(),
    st.sampled_from(
        [
            "fp16",
            "bf16",
            "fp32",
            "alpha",
            "beta",
            "builtin:tiny-llama",
            "builtin:nope",
            "auto",
            "jsonl",
            "random",
            "m",
            "",
        ]
    ),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
DOCS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)


def check(text: str) -> None:
    try:
        study = loads(text, "prop.yaml")
    except ConfigError as exc:
        assert str(exc)
        return
    assert isinstance(study, StudyConfig) and study.experiments


@settings(max_examples=300, deadline=None)
@given(DOCS)
def test_any_config_shaped_document_loads_or_raises_config_error(doc):
    check(json.dumps(doc))


@settings(max_examples=150, deadline=None)
@given(DOCS.map(lambda d: {"model": "m", "backend": "alpha", **d}))
def test_near_valid_documents_load_or_raise_config_error(doc):
    check(json.dumps(doc))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}!&*|>'\"#%@`,? \n\t0.9~")), max_size=60))
def test_any_yaml_text_loads_or_raises_config_error(text):
    check(text)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(
        [
            "!!python/object:os.system",
            "!!python/name:os.system",
            "!!binary",
            "!!set",
            "!!timestamp",
            "!custom",
            "!!omap",
            "!!pairs",
            "&a",
            "*a",
            "<<:",
        ]
    ),
    st.integers(0, 6),
)
def test_tags_and_anchors_anywhere_load_or_raise_config_error(token, line):
    lines = [
        "model: m",
        "backend: alpha",
        "generation:",
        "  max_new_tokens: 8",
        "extra:",
        "  k: v",
        "sweep: {precision: [fp16]}",
    ]
    key, _, value = lines[line].partition(":")
    lines[line] = f"{key}: {token} {value.strip()}"
    check("\n".join(lines) + "\n")
