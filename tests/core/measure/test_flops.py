from __future__ import annotations

import pytest
from llem import RequestRecord
from llem.measure.flops import estimate_flops


def rec(inp, out):  # type: ignore[no-untyped-def]
    return RequestRecord(
        request_id=0,
        input_tokens=inp,
        output_tokens=out,
        t_submit_ns=0,
        t_first_token_ns=1,
        t_end_ns=2,
    )


ARCH = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64}


def test_palm_dense_part_is_2_n_per_token():
    f = estimate_flops(1000, [rec(10, 5), rec(20, 5)], None)
    assert f.total == 2 * 1000 * 40 and f.per_output_token == f.total / 10
    assert f.method == "palm_2N_per_token" and f.confidence == "medium"


def test_attention_is_added_when_the_architecture_is_known():
    f = estimate_flops(1000, [rec(3, 1)], ARCH)
    attention = 4 * 2 * 4 * 16 * (4 * 5 / 2)
    assert f.total == pytest.approx(2 * 1000 * 4 + attention)
    assert f.confidence == "high" and "attention" in f.method


def test_unknown_parameters_and_moe_lower_the_confidence():
    f = estimate_flops(None, [rec(1, 1)], ARCH)
    assert f.total is None and f.confidence == "low" and "num_parameters" in f.method
    moe = estimate_flops(1000, [rec(1, 1)], {**ARCH, "num_local_experts": 8})
    assert moe.confidence == "low" and "mixture of experts" in moe.method
