from __future__ import annotations

import pytest
from llem import RequestRecord
from llem.measure.phases import RULE, split_energy

S = 1_000_000_000


def rec(submit, first, end):  # type: ignore[no-untyped-def]
    return RequestRecord(
        request_id=0,
        input_tokens=1,
        output_tokens=2,
        t_submit_ns=submit,
        t_first_token_ns=first,
        t_end_ns=end,
    )


def step_power(prefill_w, decode_w, edges):  # type: ignore[no-untyped-def]
    """A power trace sampled every 10 ms: prefill_w inside the (a, b) edges, else decode_w."""
    points = []
    for t in range(0, 10 * S + 1, S // 100):
        inside = any(a <= t < b for a, b in edges)
        points.append((t, prefill_w if inside else decode_w))
    return points


def test_energy_splits_by_integrated_power_in_prefill_and_decode_time():
    records = [rec(0, 2 * S, 5 * S), rec(0, 2 * S, 6 * S), rec(6 * S, 7 * S, 10 * S)]
    power = {"gpu": step_power(400.0, 200.0, [(0, 2 * S), (6 * S, 7 * S)])}
    split = split_energy(records, power, (0, 10 * S), gpu_j=2600.0)
    # prefill: 3 s at 400 W = 1200 J of 2600 J (7 s at 200 W = 1400 J)
    assert split.prefill_j == pytest.approx(1200.0, rel=0.01)
    assert split.decode_j == pytest.approx(1400.0, rel=0.01)
    assert split.prefill_s == pytest.approx(3.0)
    assert split.rule == RULE and split.null_reason is None


def test_the_meter_total_is_kept_and_overlapping_prefills_count_once():
    records = [rec(0, 2 * S, 4 * S), rec(1 * S, 3 * S, 4 * S)]
    power = {"a": [(0, 100.0), (4 * S, 100.0)], "b": [(0, 100.0), (4 * S, 100.0)]}
    split = split_energy(records, power, (0, 4 * S), gpu_j=1000.0)
    assert split.prefill_s == pytest.approx(3.0)
    assert split.prefill_j + split.decode_j == pytest.approx(1000.0)
    assert split.prefill_j == pytest.approx(750.0)


def test_missing_first_token_times_give_none_with_the_reason():
    split = split_energy([rec(0, None, S), rec(0, S // 2, S)], {"g": [(0, 1.0)]}, (0, S), 5.0)
    assert split.prefill_j is None and split.decode_j is None
    assert "no first-token time for 1 of 2" in split.null_reason


def test_no_energy_or_no_samples_give_none_with_the_reason():
    assert "no GPU energy" in split_energy([rec(0, 1, 2)], {}, (0, 2), None).null_reason
    assert "no power samples" in split_energy([rec(0, 1, 2)], {"g": []}, (0, 2), 1.0).null_reason
