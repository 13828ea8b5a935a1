"""Engines run on exactly the GPUs llem measures (CUDA_VISIBLE_DEVICES narrowing)."""

from __future__ import annotations

import pytest
from llem.errors import PreflightError
from llem.interfaces import Device
from llem.telemetry.devices import VisibleDevices, visible_devices_for


def devs(*indices):  # type: ignore[no-untyped-def]
    return [
        Device(
            cuda_index=i,
            nvml_index=i,
            uuid=f"GPU-fake-{i}",
            pci_bus_id=f"00000000:{i + 1:02x}:00.0",
            name="Fake H100",
            memory_total_bytes=80 << 30,
        )
        for i in indices
    ]


def test_first_n_devices_need_no_change():
    assert visible_devices_for(devs(0, 1), {}) is None
    assert visible_devices_for(devs(0), {"CUDA_VISIBLE_DEVICES": "3,1"}) is None


def test_other_devices_are_selected_in_order():
    assert visible_devices_for(devs(2, 3), {}) == "2,3"
    assert visible_devices_for(devs(1, 0), {}) == "1,0"


def test_selection_goes_through_an_existing_mask():
    env = {"CUDA_VISIBLE_DEVICES": "4,6,5"}
    assert visible_devices_for(devs(1, 2), env) == "6,5"
    with pytest.raises(PreflightError, match="not all visible"):
        visible_devices_for(devs(3), env)


def test_apply_then_restore_puts_the_environment_back():
    env = {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    vis = VisibleDevices(env)
    vis.apply(devs(2, 3))
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3" and vis.value == "2,3"
    vis.restore()
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"} and vis.value == "0,1,2,3"
    unset: dict[str, str] = {}
    vis = VisibleDevices(unset)
    vis.apply(devs(1))
    vis.restore()
    assert unset == {} and vis.value is None
