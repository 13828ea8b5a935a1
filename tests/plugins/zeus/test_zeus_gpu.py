"""On a real NVIDIA GPU: the zeus meter measures the device CUDA calls 0, and its energy is
the NVML counter difference over the same window (run on the GPU machine: -m gpu)."""

from __future__ import annotations

import time

import pytest
from llem.interfaces import Device
from llem_zeus.meter import ZeusMeter

pytestmark = pytest.mark.gpu


def test_zeus_window_matches_the_raw_nvml_counter_on_cuda_device_0():
    torch = pytest.importorskip("torch")
    pynvml = pytest.importorskip("pynvml")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    pynvml.nvmlInit()
    props = torch.cuda.get_device_properties(0)
    uuid = "GPU-" + str(props.uuid)
    handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
    dev = Device(
        cuda_index=0,
        nvml_index=pynvml.nvmlDeviceGetIndex(handle),
        uuid=uuid,
        pci_bus_id=str(pynvml.nvmlDeviceGetPciInfo(handle).busId),
        name=props.name,
        memory_total_bytes=props.total_memory,
    )
    meter = ZeusMeter()
    assert meter.probe([dev]).ok
    meter.prepare([dev])
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    before = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    meter.start([dev])
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()
    reading = meter.stop()
    after = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    raw_j = (after - before) / 1000.0
    assert reading.method == "energy_counter"
    assert set(reading.gpu_j) == {uuid}
    assert reading.gpu_j[uuid] == pytest.approx(raw_j, rel=0.01)
