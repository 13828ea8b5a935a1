"""The ctypes calls into libcuda, against a stand-in library object."""

from __future__ import annotations

import ctypes

from llem.telemetry import cuda_driver


class FakeLibcuda:
    """Answers the driver API calls the way libcuda does (out-parameters by reference)."""

    def __init__(self, buses: list[str], init_status: int = 0) -> None:
        self.buses = buses
        self.init_status = init_status

    def cuInit(self, flags):  # noqa: N802
        return self.init_status

    def cuDeviceGetCount(self, count):  # noqa: N802
        count._obj.value = len(self.buses)
        return 0

    def cuDeviceGet(self, device, ordinal):  # noqa: N802
        device._obj.value = ordinal
        return 0

    def cuDeviceGetPCIBusId(self, buf, length, device):  # noqa: N802
        buf.value = self.buses[device.value].encode()
        return 0

    def cuDeviceGetUuid_v2(self, raw, device):  # noqa: N802
        ctypes.memmove(raw._obj, bytes([device.value] * 16), 16)
        return 0


def test_visible_devices_reads_pci_ids_and_uuids_in_ordinal_order():
    lib = FakeLibcuda(["0000:19:00.0", "0000:17:00.0"])
    devices = cuda_driver.visible_devices(lib)  # type: ignore[arg-type]
    assert [d.pci_bus_id for d in devices] == ["0000:19:00.0", "0000:17:00.0"]
    assert devices[1].uuid == "GPU-01010101-0101-0101-0101-010101010101"


def test_no_device_is_an_empty_list_and_other_init_failures_are_none():
    assert cuda_driver.visible_devices(FakeLibcuda([], init_status=100)) == []  # type: ignore[arg-type]
    assert cuda_driver.visible_devices(FakeLibcuda([], init_status=999)) is None  # type: ignore[arg-type]


def test_the_query_runs_in_a_child_process_and_never_initialises_cuda_here(monkeypatch):
    import subprocess
    import sys

    monkeypatch.setattr(cuda_driver, "load_libcuda", lambda: object())
    calls = []
    real_run = subprocess.run

    def run(args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    result = cuda_driver.query()
    assert calls and calls[0][:2] == [sys.executable, cuda_driver.__file__]
    # here (no libcuda) the child answers null; with libcuda it lists the devices
    assert result is None or all(d.pci_bus_id for d in result)


def test_the_script_prints_json():
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, cuda_driver.__file__], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) is None or isinstance(json.loads(out), list)
