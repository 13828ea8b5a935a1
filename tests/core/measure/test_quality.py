"""Each measurement warning: when it fires, and that it says how to fix it."""

from __future__ import annotations

import os

from llem import EnergyReading
from llem.config.schema import (
    BaselineConfig,
    ExecutionConfig,
    ExperimentConfig,
    WarmupConfig,
)
from llem.interfaces import Device
from llem.measure import quality
from llem.results.schema import Environment, GpuInfo, WarmupOutcome
from llem.telemetry.devices import resolve_devices
from llem.telemetry.timeseries import Timeseries

DEV = Device(
    cuda_index=0, nvml_index=0, uuid="GPU-a", pci_bus_id="0:0:0.0", name="x", memory_total_bytes=1
)


def series(temps=(40, 41), reasons=(0, 0)):  # type: ignore[no-untyped-def]
    ts = Timeseries()
    for i, (t, r) in enumerate(zip(temps, reasons, strict=True)):
        ts.append(DEV, i, 100.0, None, {"temperature_c": t, "clock_event_reasons": r})
    return ts


def codes(warnings):  # type: ignore[no-untyped-def]
    assert all(w.fix for w in warnings)
    return [w.code for w in warnings]


def test_short_window():
    assert codes(quality.short_window(3.0, 10.0)) == ["short_window"]
    assert quality.short_window(10.0, 10.0) == []


def test_persistence_off():
    gpu = GpuInfo(0, 0, "GPU-a", "p", "n", 1, persistence_mode=False)
    env = Environment(
        gpus=(gpu,),
        driver_version=None,
        cuda_driver_version=None,
        cuda_visible_devices=None,
        cpu_model="c",
        cpu_count=1,
        ram_bytes=1,
        hostname="h",
        platform="p",
        python="3",
        llem_version="0",
    )
    assert codes(quality.persistence_off(env)) == ["persistence_off"]
    assert "nvidia-smi -pm 1" in quality.persistence_off(env)[0].fix


def test_thermal_drift_over_the_threshold():
    assert codes(quality.thermal_drift(series((40, 52)), 10.0)) == ["thermal_drift"]
    assert quality.thermal_drift(series((40, 49)), 10.0) == []


def test_few_samples():
    assert codes(quality.few_samples(series(), [DEV], 100)) == ["few_samples"]
    many = series(temps=[40] * 10, reasons=[0] * 10)
    assert quality.few_samples(many, [DEV], 100) == []


def test_throttling_ignores_idle_and_application_clocks():
    assert quality.throttling(series(reasons=(0x1, 0x2))) == []
    warnings = quality.throttling(series(reasons=(0x1, 0x4 | 0x40)))
    assert codes(warnings) == ["throttling"]
    assert "software power cap" in warnings[0].message
    assert "hardware thermal slowdown" in warnings[0].message and "1 of 2" in warnings[0].message
    assert warnings[0].severity == "warning"


def test_other_processes_on_the_measured_gpu(fake_nvml, monkeypatch):
    me = os.getpid()
    # this process alone, holding the GPU (a fake one: no /dev/nvidiaN to open here)
    monkeypatch.setattr(quality, "process_tree", lambda root: {root})
    monkeypatch.setattr(quality, "gpu_users", lambda pids: set(pids))
    fake_nvml.configure(gpus=[{"processes": [[me, 100], [4242, 200]]}])
    devices = resolve_devices([0])
    warnings = quality.other_processes(devices)
    assert codes(warnings) == ["other_process"] and "4242" in warnings[0].message
    fake_nvml.set_spec(0, processes=[[me, 100]])
    assert quality.other_processes(devices) == []
    fake_nvml.set_spec(0, processes=[[99999, 100]])  # our process under a host PID
    assert quality.other_processes(devices) == []
    fake_nvml.set_spec(0, processes=[[99999, 100], [88888, 1]])
    assert codes(quality.other_processes(devices)) == ["other_process"]


def test_in_another_pid_namespace_only_our_gpu_holders_are_discounted(fake_nvml, monkeypatch):
    """Children that never touch the GPU (a resource tracker, a RAPL poller) must not
    hide another job's process."""
    me = os.getpid()
    monkeypatch.setattr(quality, "process_tree", lambda root: {root, 71, 72})
    monkeypatch.setattr(quality, "gpu_users", lambda pids: {me})
    fake_nvml.configure(gpus=[{"processes": [[99999, 100], [88888, 1]]}])
    assert codes(quality.other_processes(resolve_devices([0]))) == ["other_process"]
    monkeypatch.setattr(quality, "gpu_users", lambda pids: None)  # /proc says nothing
    assert quality.other_processes(resolve_devices([0])) == []


def test_gpu_users_reads_open_device_files():
    assert quality.gpu_users([os.getpid()]) == set()  # the test process has no GPU open
    assert quality.gpu_users([2**22 + 12345]) == set()  # no such process
    assert quality.GPU_DEVICE_FILE.fullmatch("/dev/nvidia3")
    assert not quality.GPU_DEVICE_FILE.fullmatch("/dev/nvidiactl")
    assert not quality.GPU_DEVICE_FILE.fullmatch("/dev/nvidia-uvm")


def test_the_workers_child_processes_are_not_others(fake_nvml):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in quality.process_tree(os.getpid())
        fake_nvml.configure(gpus=[{"processes": [[os.getpid(), 1], [child.pid, 1]]}])
        assert quality.other_processes(resolve_devices([0])) == []
    finally:
        child.kill()
        child.wait()


def test_methodology_shortcuts():
    cfg = ExperimentConfig(
        model="m",
        warmup=WarmupConfig(thermal_floor_s=0),
        baseline=BaselineConfig(enabled=False),
        execution=ExecutionConfig(cycles=1),
    )
    assert codes(quality.methodology(cfg, "baseline.enabled is false")) == [
        "thermal_floor_short",
        "no_baseline",
        "single_cycle",
    ]
    assert quality.methodology(ExperimentConfig(model="m"), None) == []


def test_energy_quality_polled_power_and_cross_check_disagreement():
    polled = EnergyReading(meter="nvml", method="power_integration", gpu_j={"a": 1.0})
    assert codes(quality.energy_quality(polled, {"zeus": 0.01}, 10.0)) == ["polled_power"]
    counter = EnergyReading(meter="nvml", method="energy_counter", gpu_j={"a": 1.0})
    warnings = quality.energy_quality(counter, {"zeus": -0.03}, 10.0)
    assert codes(warnings) == ["cross_check_disagreement"] and "-3.0%" in warnings[0].message


def test_warmup_phase_split_sampler_and_no_energy():
    out = WarmupOutcome(runs=20, durations_s=(1.0,), cv=0.2, converged=False)
    assert codes(quality.warmup_quality(out, 0.05, 20)) == ["warmup_not_converged"]
    assert quality.warmup_quality(WarmupOutcome(5, (), None, None), None, 20) == []
    assert codes(quality.phase_split_coarse(0.05, 100)) == ["phase_split_coarse"]
    assert quality.phase_split_coarse(0.5, 100) == []
    assert codes(quality.sampler_failed("boom")) == ["sampler_failed"]
    assert codes(quality.energy_unavailable("no GPU", "install")) == ["energy_unavailable"]
