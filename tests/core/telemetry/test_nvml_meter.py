"""The nvml meter's arithmetic against a fake NVML whose counters follow simulated power."""

from __future__ import annotations

import time

import pytest
from llem.plugins import load_registry
from llem.telemetry.devices import resolve_devices
from llem.telemetry.nvml_meter import NvmlMeter, NvmlMeterConfig
from llem.telemetry.sampler import TelemetrySampler


def _window(meter, devices, fake, watts, seconds=0.3):  # type: ignore[no-untyped-def]
    meter.start(devices)
    t0 = time.perf_counter()
    fake.set_power(None, watts)
    time.sleep(seconds)
    reading = meter.stop()
    return reading, time.perf_counter() - t0


def test_energy_counter_difference_is_power_times_window(fake_nvml):
    fake_nvml.configure(gpus=[{"power_w": 200.0}, {"power_w": 200.0}])
    devices = resolve_devices([0, 1])
    meter = NvmlMeter()
    assert meter.probe(devices).ok
    meter.start(devices)
    time.sleep(0.3)
    reading = meter.stop()
    assert reading.meter == "nvml" and reading.method == "energy_counter"
    window = reading.details["window_s"]
    for uuid in (d.uuid for d in devices):
        assert reading.gpu_j[uuid] == pytest.approx(200.0 * window, rel=0.02)
    assert reading.gpu_total_j == pytest.approx(400.0 * window, rel=0.02)
    assert reading.resolution_s == 0.1
    assert reading.details["accuracy_bound_j"] == pytest.approx(2 * 5.0 * window)


def test_without_a_counter_polled_power_is_integrated_and_labelled(fake_nvml):
    fake_nvml.configure(gpus=[{"energy_counter": False, "power_w": 150.0}])
    devices = resolve_devices([0])
    meter = NvmlMeter()
    assert meter.probe(devices).ok
    meter.start(devices)
    time.sleep(0.4)
    reading = meter.stop()
    assert reading.method == "power_integration"
    assert reading.gpu_total_j == pytest.approx(150.0 * reading.details["window_s"], rel=0.02)
    assert any("no energy counter" in n for n in reading.notes)
    assert reading.details["power_samples"][devices[0].uuid] >= 3


def test_polled_power_follows_a_power_step(fake_nvml):
    fake_nvml.configure(gpus=[{"power_w": 100.0}])
    devices = resolve_devices([0])
    counter = NvmlMeter()
    polled = NvmlMeter(NvmlMeterConfig(method="power_integration"))
    counter.start(devices)
    polled.start(devices)
    fake_nvml.set_power(0, 400.0)
    time.sleep(1.0)
    a, b = counter.stop(), polled.stop()
    assert b.method == "power_integration" and a.method == "energy_counter"
    assert b.gpu_total_j == pytest.approx(a.gpu_total_j, rel=0.05)


def test_mixed_gpus_report_both_methods(fake_nvml):
    fake_nvml.configure(gpus=[{}, {"energy_counter": False}])
    devices = resolve_devices([0, 1])
    reading, _ = _window(NvmlMeter(), devices, fake_nvml, 300.0)
    assert reading.method == "energy_counter+power_integration"
    assert set(reading.details["per_device_method"].values()) == {
        "energy_counter",
        "power_integration",
    }


def test_fallback_uses_the_running_window_sampler_instead_of_a_second_thread(fake_nvml):
    import threading

    fake_nvml.configure(gpus=[{"energy_counter": False, "power_w": 120.0}])
    devices = resolve_devices([0])
    sampler = TelemetrySampler(devices, 0.05, announce=True).start()
    threads = threading.active_count()
    meter = NvmlMeter()
    meter.start(devices)
    assert threading.active_count() == threads
    time.sleep(0.3)
    reading = meter.stop()
    sampler.stop()
    assert reading.gpu_total_j == pytest.approx(120.0 * reading.details["window_s"], rel=0.02)


def test_probe_refuses_what_it_cannot_measure(fake_nvml):
    assert not NvmlMeter().probe([]).ok
    fake_nvml.configure(gpus=[{"energy_counter": False}])
    devices = resolve_devices([0])
    only_counter = NvmlMeter(NvmlMeterConfig(method="energy_counter")).probe(devices)
    assert not only_counter.ok and "Volta" in only_counter.reason and only_counter.fix
    fake_nvml.configure(
        gpus=[
            {
                "energy_counter": False,
                "power_instant": False,
                "missing_functions": ["nvmlDeviceGetPowerUsage"],
            }
        ]
    )
    assert not NvmlMeter().probe(resolve_devices([0])).ok


def test_probe_without_nvml_says_why(fake_nvml):
    fake_nvml.configure(gpus=[{}])
    devices = resolve_devices([0])
    fake_nvml.configure(available=False)
    from llem.telemetry import nvml

    nvml._initialised.clear()
    availability = NvmlMeter().probe(devices)
    assert not availability.ok and "NVML" in availability.reason


def test_registered_as_a_built_in_through_the_hook():
    registry = load_registry("")
    assert registry.meters["nvml"] is NvmlMeter
    assert NvmlMeter.distribution == "llem-core"
