"""llem-zeus passes the core's meter conformance suite (llem.testing), on a fake NVML."""

from __future__ import annotations

import pytest
from llem.interfaces import Device
from llem.testing import MeterConformance
from llem_zeus.meter import ZeusMeter

from tests.fakes.zeus_fake import fake_nvml

GPUS = fake_nvml.make_gpus(2)


class TestZeusMeterConformance(MeterConformance):
    meter_class = ZeusMeter
    config = {"approx_instant_energy": True, "measure_cpu": True}
    bad_configs = [{"cpu_indices": [-1]}, {"approx_instant_energi": True}]
    devices = [
        Device(
            cuda_index=0,
            nvml_index=1,
            uuid=GPUS[1].uuid,
            pci_bus_id=GPUS[1].pci_bus_id,
            name=GPUS[1].name,
            memory_total_bytes=GPUS[1].memory_total,
        ),
    ]

    @pytest.fixture(autouse=True)
    def _machine(self, zeus_machine, monkeypatch):  # type: ignore[no-untyped-def]
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        zeus_machine(GPUS)
