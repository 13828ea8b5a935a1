"""Sweep expansion: grids, backend-scoped keys, explicit experiments, duplicates."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llem.config.identity import config_hash, varying_params
from llem.config.loader import load_config, loads
from llem.errors import ConfigError


def test_grid_is_the_product_first_axis_slowest(write):
    study = load_config(
        write(
            "model: m\nbackend: alpha\nsweep:\n  precision: [fp16, bf16]\n"
            "  alpha.batch_size: [1, 8, 32]\n"
        )
    )
    got = [(e.precision, e.section("alpha").batch_size) for e in study.experiments]
    assert got == [("fp16", 1), ("fp16", 8), ("fp16", 32), ("bf16", 1), ("bf16", 8), ("bf16", 32)]


def test_backend_scoped_keys_vary_only_their_backend(write):
    study = load_config(
        write(
            "model: m\nsweep:\n  backend: [alpha, beta]\n  alpha.batch_size: [1, 8]\n"
            "  beta.max_num_seqs: [4, 16, 64]\n  precision: [fp16, bf16]\n"
        )
    )
    by_backend = {"alpha": 0, "beta": 0}
    for e in study.experiments:
        by_backend[e.backend] += 1
        assert set(e.sections) == {e.backend}
    assert by_backend == {"alpha": 2 * 2, "beta": 3 * 2}
    assert len(study.experiments) == 10


def test_scoped_axis_for_an_absent_backend_multiplies_nothing(write):
    study = load_config(write("model: m\nbackend: alpha\nsweep:\n  beta.max_num_seqs: [1, 2]\n"))
    assert len(study.experiments) == 1


def test_explicit_experiments_times_grid(write):
    study = load_config(
        write(
            "model: m\nbackend: alpha\nexperiments:\n  - {precision: fp16}\n"
            "  - {backend: beta, beta: {max_num_seqs: 8}}\n"
            "sweep:\n  generation.max_new_tokens: [8, 16]\n  alpha.batch_size: [1, 2]\n"
        )
    )
    alpha = [e for e in study.experiments if e.backend == "alpha"]
    beta = [e for e in study.experiments if e.backend == "beta"]
    assert len(alpha) == 4 and len(beta) == 2
    assert all(e.precision == "fp16" for e in alpha)
    assert all(e.section("beta").max_num_seqs == 8 for e in beta)


def test_duplicates_collapse_to_the_first(write):
    study = load_config(
        write(
            "model: m\nbackend: alpha\nexperiments:\n  - {precision: bf16}\n  - {}\n"
            "sweep:\n  alpha.batch_size: [1, 1, 2]\n"
        )
    )
    # the empty entry resolves to the default precision bf16: same as the first entry
    assert len(study.experiments) == 2
    assert len({config_hash(e) for e in study.experiments}) == 2


def test_default_values_written_out_are_duplicates_of_absent_ones(write):
    study = load_config(
        write(
            "model: m\nbackend: alpha\nexperiments:\n  - {}\n"
            "  - {alpha: {batch_size: 1}, precision: bf16}\n"
        )
    )
    assert len(study.experiments) == 1


def test_sweep_value_error_carries_the_line_of_the_value(write):
    path = write(
        "model: m\nbackend: alpha\nsweep:\n  alpha.batch_size:\n    - 1\n    - 0\n"
        "  precision: [fp16, fp17]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "config.yaml:6:7: alpha.batch_size: must be >= 1, got 0" in msg
    assert "config.yaml:7:21: precision: expected one of fp32, fp16, bf16, got 'fp17'" in msg


def test_sweep_unknown_key_suggests(write):
    with pytest.raises(ConfigError) as info:
        load_config(write("model: m\nbackend: alpha\nsweep:\n  generation.max_new_token: [1, 2]\n"))
    assert (
        "config.yaml:4:3: generation.max_new_token: unknown key 'max_new_token'; "
        "did you mean 'max_new_tokens'?" in str(info.value)
    )


@pytest.mark.parametrize(
    "sweep,expected",
    [
        ("precision: fp16", "expected a non-empty list"),
        ("precision: []", "expected a non-empty list"),
        ("execution.cycles: [1, 2]", "applies to the whole study"),
        ("genaration.x: [1]", "did you mean 'generation'"),
        ("vllm.max_num_seqs: [1]", "pip install llem-vllm"),
        ("'a..b': [1]", "not a dotted key"),
    ],
)
def test_bad_sweeps(write, sweep, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_config(write(f"model: m\nbackend: alpha\nsweep:\n  {sweep}\n"))


def test_set_overrides_a_swept_key_and_adds_axes(write):
    path = write("model: m\nbackend: alpha\nsweep:\n  precision: [fp16, bf16]\n")
    pinned = load_config(path, overrides=["precision=fp32"])
    assert [e.precision for e in pinned.experiments] == ["fp32"]
    more = load_config(path, overrides=["sweep.alpha.batch_size=[1, 2, 3]"])
    assert len(more.experiments) == 6


def test_varying_params_lists_only_what_differs(write):
    study = load_config(
        write(
            "model: m\nsweep:\n  backend: [alpha, beta]\n  alpha.batch_size: [1, 8]\n"
            "  precision: [fp16]\n"
        )
    )
    params = varying_params(study.experiments)
    assert params == [
        {"backend": "alpha", "alpha.batch_size": 1},
        {"backend": "alpha", "alpha.batch_size": 8},
        {"backend": "beta"},
    ]


VALUE_LISTS = {
    "precision": st.lists(st.sampled_from(["fp32", "fp16", "bf16"]), min_size=1, max_size=4),
    "alpha.batch_size": st.lists(st.integers(1, 6), min_size=1, max_size=5),
    "generation.max_new_tokens": st.lists(st.integers(1, 6), min_size=1, max_size=5),
    "dataset.seed": st.lists(st.integers(0, 3), min_size=1, max_size=4),
    "warmup.thermal_floor_s": st.lists(st.sampled_from([0, 0.0, 1, 1.5]), min_size=1, max_size=4),
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.fixed_dictionaries({}, optional=VALUE_LISTS))
def test_count_is_product_of_distinct_values(axes):
    lines = ["model: m", "backend: alpha", "sweep:" if axes else ""]
    for key, values in axes.items():
        lines.append(f"  {key}: {list(values)}")
    study = loads("\n".join(lines) + "\n")
    # 0 and 0.0 are the same float value: they collapse like any duplicate
    distinct = [
        len({float(v) if isinstance(v, (int, float)) else v for v in values})
        for values in axes.values()
    ]
    assert len(study.experiments) == math.prod(distinct)
    assert len({config_hash(e) for e in study.experiments}) == len(study.experiments)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=4),
    st.lists(st.integers(1, 9), min_size=1, max_size=4),
    st.lists(st.sampled_from(["fp16", "bf16"]), min_size=1, max_size=3),
)
def test_scoped_count_is_a_sum_over_backends(alpha_sizes, beta_seqs, precisions):
    study = loads(
        "model: m\nsweep:\n  backend: [alpha, beta]\n"
        f"  alpha.batch_size: {alpha_sizes}\n  beta.max_num_seqs: {beta_seqs}\n"
        f"  precision: {precisions}\n"
    )
    expected = (len(set(alpha_sizes)) + len(set(beta_seqs))) * len(set(precisions))
    assert len(study.experiments) == expected
