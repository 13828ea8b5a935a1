"""On a real NVIDIA GPU: device identity, the nvml meter vs the raw counter, and the
polled-power fallback. The full proof (Llama-3.2-1B, batch 1/8/32, overhead) is
bench/gpu_energy.py; these are its quick companions (~40 s).

Run on the GPU machine: PYTHONPATH=core/src python3 -m pytest -m gpu tests/gpu -q
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")
pynvml = pytest.importorskip("pynvml")
if not torch.cuda.is_available():  # pragma: no cover - CPU machines
    pytest.skip("needs an NVIDIA GPU", allow_module_level=True)


def _uuid(index: int) -> str:
    return "GPU-" + str(torch.cuda.get_device_properties(index).uuid)


def _busy(seconds: float) -> None:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()


def test_resolved_devices_are_the_gpus_torch_uses():
    from llem.telemetry.devices import resolve_devices

    devices = resolve_devices(list(range(torch.cuda.device_count())))
    assert [d.uuid for d in devices] == [_uuid(i) for i in range(len(devices))]


def test_nvml_meter_equals_the_raw_counter_and_polled_power_is_close():
    from llem.telemetry.devices import resolve_devices
    from llem.telemetry.nvml_meter import NvmlMeter, NvmlMeterConfig

    devices = resolve_devices([0])
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByUUID(_uuid(0))
    _busy(2.0)  # warm up cuBLAS and clocks
    counter, polled = NvmlMeter(), NvmlMeter(NvmlMeterConfig(method="power_integration"))
    polled.start(devices)
    counter.start(devices)
    raw0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    _busy(20.0)
    a = counter.stop()
    raw1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    b = polled.stop()
    raw_j = (raw1 - raw0) / 1000
    assert a.method == "energy_counter" and b.method == "power_integration"
    assert a.gpu_total_j == pytest.approx(raw_j, rel=0.005)
    assert b.gpu_total_j == pytest.approx(a.gpu_total_j, rel=0.03)


def test_sampler_reads_instant_power_and_the_counter_at_edges_and_each_second():
    from llem.telemetry.devices import resolve_devices
    from llem.telemetry.sampler import TelemetrySampler

    devices = resolve_devices([0])
    sampler = TelemetrySampler(devices, 0.1).start()
    _busy(3.0)
    series = sampler.stop()
    assert sampler.power_sources[devices[0].uuid] == "instant_field"
    assert 4 <= len(series.rows(devices[0].uuid, "energy_mj")) <= 5  # 2 edges + ~1/s
    assert 25 <= series.samples(devices[0].uuid) <= 40
    assert max(w for _, w in series.rows(devices[0].uuid, "power_w")) > 150
