from __future__ import annotations

import pytest
from llem import EnergyReading
from llem.measure.attribution import Attribution, null_attribution
from llem.measure.baseline import Baseline
from llem.measure.energy import cross_check_diffs, derive_energy, null_energy

SPLIT = Attribution("rule", 30.0, 70.0, None, {0: 60.0, 1: 40.0}, {}, 0.0, None)


def reading(meter="nvml", a=60.0, b=40.0, cpu=None, co2=None):  # type: ignore[no-untyped-def]
    return EnergyReading(
        meter=meter, method="energy_counter", gpu_j={"A": a, "B": b}, cpu_j=cpu, co2_kg=co2
    )


def test_totals_per_token_baseline_adjustment_and_accuracy_bound():
    base = Baseline({"A": 10.0, "B": 20.0}, "measured", 0.0, 30.0, {"A": 300, "B": 300})
    e = derive_energy(
        reading(cpu=5.0),
        [],
        window_s=2.0,
        num_gpus=2,
        baseline=base,
        device_uuids=["A", "B"],
        output_tokens=50,
        split=SPLIT,
        co2=None,
    )
    assert (e.meter, e.method, e.gpu_j, e.cpu_j, e.total_j) == (
        "nvml",
        "energy_counter",
        100.0,
        5.0,
        105.0,
    )
    assert e.energy_per_output_token_j == pytest.approx(105.0 / 50)
    assert e.baseline_power_w == 30.0 and e.adjusted_j == pytest.approx(100.0 - 60.0)
    assert e.adjusted_energy_per_output_token_j == pytest.approx(40.0 / 50)
    assert e.accuracy_bound_j == pytest.approx(5.0 * 2 * 2.0)
    assert e.mean_power_w == pytest.approx(50.0)
    assert (e.prefill_j, e.decode_j, e.phase_split_rule) == (30.0, 70.0, "rule")
    assert e.baseline_source == "measured (30 s)" and e.null_reason is None


def test_incomplete_baseline_gives_no_adjusted_energy():
    base = Baseline({"A": 10.0}, "cache", 0.0, 30.0, {"A": 1})
    e = derive_energy(
        reading(),
        [],
        window_s=1.0,
        num_gpus=2,
        baseline=base,
        device_uuids=["A", "B"],
        output_tokens=10,
        split=SPLIT,
        co2=None,
    )
    assert e.baseline_power_w is None and e.adjusted_j is None


def test_co2_from_the_meter_first_else_from_the_estimate_hook():
    kwargs = dict(
        window_s=1.0,
        num_gpus=2,
        baseline=None,
        device_uuids=["A", "B"],
        output_tokens=10,
        split=SPLIT,
    )
    assert derive_energy(reading(co2=0.5), [], co2=(9.0, {}), **kwargs).co2_kg == 0.5
    est = derive_energy(reading(), [], co2=(0.25, {"g_per_kwh": 50}), **kwargs)
    assert est.co2_kg == 0.25 and est.co2_details == {"g_per_kwh": 50}
    assert derive_energy(reading(), [], co2=None, **kwargs).co2_kg is None


def test_cross_check_relative_difference_on_gpu_energy():
    diffs = cross_check_diffs(reading(), [reading("zeus", 61.0, 41.0)])
    assert diffs == {"zeus": pytest.approx(0.02)}
    cpu_only = EnergyReading(meter="cc", method="estimate", gpu_j=None, cpu_j=110.0)
    assert cross_check_diffs(reading(), [cpu_only]) == {"cc": pytest.approx(0.1)}


def test_a_meter_that_measured_nothing_gives_a_null_reason():
    empty = EnergyReading(meter="nvml", method="none", gpu_j=None, notes=("counter reset",))
    e = derive_energy(
        empty,
        [],
        window_s=1.0,
        num_gpus=1,
        baseline=None,
        device_uuids=["A"],
        output_tokens=1,
        split=null_attribution("x"),
        co2=None,
    )
    assert e.total_j is None and "counter reset" in e.null_reason
    assert e.energy_per_output_token_j is None


def test_null_energy_is_all_none_with_the_reason():
    e = null_energy("no NVIDIA GPU")
    assert e.null_reason == "no NVIDIA GPU" and e.total_j is None and e.meter is None
