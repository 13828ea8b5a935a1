"""Throttling graded by how much it mattered: shares, clock drop, clock-cycle loss."""

from __future__ import annotations

import pytest
from llem.interfaces import Device
from llem.measure import quality, throttle
from llem.telemetry.timeseries import Timeseries

POWER_CAP, HW_THERMAL = 0x4, 0x40


def samples(n: int, throttled: int, reason: int, clock: float, free_clock: float = 1980.0):
    """``n`` samples of which the first ``throttled`` carry ``reason`` at ``clock`` MHz."""
    reasons = [reason] * throttled + [0] * (n - throttled)
    clocks = [clock] * throttled + [free_clock] * (n - throttled)
    return reasons, clocks


def test_the_h200s_power_cap_under_hf_generate_is_info() -> None:
    # H200, HF generate: SW power cap in ~17 % of samples, clocks 1,980 -> ~1,650 MHz
    found = throttle.assess(*samples(100, 17, POWER_CAP, 1650.0))
    assert found is not None and found.grade == "info"
    assert found.shares == {"software power cap": 0.17}
    assert found.clock_drop == pytest.approx(1 - 1650 / 1980)
    assert found.clock_loss == pytest.approx(0.17 * (1 - 1650 / 1980))


def test_the_h200s_power_cap_under_vllm_is_info() -> None:
    # H200, vLLM at ~664 W: SW power cap in ~60 % of samples, clocks down to ~1,550 MHz
    found = throttle.assess(*samples(100, 60, POWER_CAP, 1550.0))
    assert found is not None and found.grade == "info"
    assert found.clock_loss is not None and found.clock_loss < throttle.LOSS_WARNING


def test_a_deep_power_cap_for_the_whole_window_is_a_warning() -> None:
    # a lowered power limit: capped in every sample at 1,100 MHz; the reference is the
    # GPU's maximum SM clock since no sample ran free
    found = throttle.assess(*samples(50, 50, POWER_CAP, 1100.0), max_clock_mhz=1980.0)
    assert found is not None and found.grade == "warning"
    assert found.reference_clock_mhz == 1980.0
    assert found.clock_drop == pytest.approx(1 - 1100 / 1980)


def test_thermal_slowdown_is_a_warning_even_when_the_clocks_barely_move() -> None:
    found = throttle.assess(*samples(100, 5, HW_THERMAL, 1950.0))
    assert found is not None and found.grade == "warning"
    assert found.shares == {"hardware thermal slowdown": 0.05}


def test_a_single_thermal_sample_in_a_long_window_is_info() -> None:
    found = throttle.assess(*samples(200, 1, HW_THERMAL, 1950.0))
    assert found is not None and found.grade == "info"


def test_idle_and_application_clock_reasons_are_not_throttling() -> None:
    assert throttle.assess([0x1, 0x2, 0x3], [1980.0, 1980.0, 1980.0]) is None


def test_unknown_clocks_leave_the_drop_unknown_not_zero() -> None:
    found = throttle.assess([POWER_CAP, 0], [None, None])
    assert found is not None
    assert found.clock_drop is None and found.clock_loss is None
    assert "clock_drop" not in found.details and found.details["throttled_share"] == 0.5


def test_the_warning_carries_grade_and_figures() -> None:
    dev = Device(0, 0, "GPU-a", "0:0:0.0", "H200", 1)
    ts = Timeseries()
    reasons, clocks = samples(100, 17, POWER_CAP, 1650.0)
    for i, (r, c) in enumerate(zip(reasons, clocks, strict=True)):
        ts.append(dev, i, 245.0, None, {"clock_event_reasons": r, "sm_clock_mhz": c})
    (w,) = quality.throttling(ts)
    assert w.code == "throttling" and w.severity == "info"
    assert "17 of 100 samples" in w.message and "1650 MHz" in w.message
    assert w.details["share.software power cap"] == 0.17
    assert w.details["clock_drop"] == pytest.approx(1 - 1650 / 1980)
