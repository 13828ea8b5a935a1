"""Property: any YAML text either loads into a StudyConfig or raises ConfigError."""

from __future__ import annotations

import json

import pytest
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


# -- bounded: any config text of at most 4 KB loads or fails within 2 s and 200 MB --------

BOUND_SCRIPT = r"""
import json, resource, sys, time, tracemalloc
from llem.config.loader import loads
from llem.errors import ConfigError
from tests.core.config.fake_plugins import use_fake_plugins
import pytest
mp = pytest.MonkeyPatch()
mp.setenv("LLEM_USER_CONFIG", "")
use_fake_plugins(mp)
loads("model: m\nbackend: alpha\n")  # warm: imports and plugins are not the config's cost
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
for line in sys.stdin:
    text = json.loads(line)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        loads(text)
        outcome = "ok"
    except ConfigError:
        outcome = "ConfigError"
    seconds = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps([outcome, seconds, peak, rss]), flush=True)
"""

_line = st.one_of(
    st.sampled_from(
        [
            "model: builtin:tiny-llama",
            "backend: alpha",
            "a: &a [x, x, x, x, x, x, x, x, x, x]",
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
            "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
            "r: &r [*r]",
            "execution: {cycles: 1000000}",
            "sweep:",
            "  dataset.seed: [" + ", ".join(map(str, range(300))) + "]",
            "  generation.max_new_tokens: [" + ", ".join(map(str, range(1, 300))) + "]",
            "generation: {max_new_tokens: 1e40}",
            "execution: {timeout_s: .nan}",
            "name: '" + "[" * 200 + "'",
            "x: " + "[" * 120,
            "experiments: [{}, {}, {}]",
        ]
    ),
    st.text(max_size=80).map(lambda t: t.replace("\n", " ")),
)
_texts = st.lists(_line, max_size=40).map("\n".join).filter(lambda t: len(t.encode()) <= 4096)


@pytest.fixture(scope="module")
def bounded_loader():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-c", BOUND_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
    )
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


@settings(max_examples=60, deadline=None)
@given(_texts)
def test_any_config_text_of_4_kb_loads_or_fails_within_2_s_and_200_mb(bounded_loader, text):
    """Measured in a separate process, for real: time, traced Python allocations and the
    growth of the process's peak RSS over its warm start (the peak only grows, so it
    bounds every example so far)."""
    bounded_loader.stdin.write(json.dumps(text) + "\n")
    bounded_loader.stdin.flush()
    outcome, seconds, peak, rss = json.loads(bounded_loader.stdout.readline())
    assert outcome in ("ok", "ConfigError")
    assert seconds < 2.0, (seconds, text[:200])
    assert peak < 200 * 1024**2 and rss < 200 * 1024**2, (peak, rss)
