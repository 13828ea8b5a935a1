"""CUDA ordinals map to NVML devices by identity, never by index."""

from __future__ import annotations

import pytest
from llem.errors import PreflightError
from llem.telemetry import cuda_driver
from llem.telemetry.devices import discover_gpus, resolve_devices

FOUR = [
    {
        "uuid": f"GPU-{i}aaaaaaa-0000-0000-0000-00000000000{i}",
        "pci_bus_id": f"00000000:{0x17 + i:02X}:00.0",
    }
    for i in range(4)
]


def test_cuda_visible_devices_2_0_measures_nvml_devices_2_and_0(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    devices = resolve_devices([0, 1])
    assert [d.nvml_index for d in devices] == [2, 0]
    assert [d.cuda_index for d in devices] == [0, 1]
    assert [d.uuid for d in devices] == [FOUR[2]["uuid"], FOUR[0]["uuid"]]


def test_without_cuda_visible_devices_cuda_order_is_pci_order(fake_nvml):
    fake_nvml.configure(gpus=FOUR)
    assert [d.nvml_index for d in resolve_devices([3, 1])] == [3, 1]


def test_uuid_prefixes_in_cuda_visible_devices(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-3aaa,GPU-1")
    assert [d.nvml_index for d in resolve_devices([0, 1])] == [3, 1]


def test_parsing_stops_at_the_first_invalid_entry_like_cuda(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,2")
    assert [d.nvml_index for d in resolve_devices([0])] == [1]
    with pytest.raises(PreflightError, match="CUDA index 1 does not exist.*sees 1 GPU"):
        resolve_devices([1])


def test_mig_instances_are_refused_with_a_reason(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-4f1c3a2b-0000")
    with pytest.raises(PreflightError, match="MIG.*per physical GPU"):
        resolve_devices([0])


def test_missing_index_and_repeated_index_are_preflight_errors(fake_nvml):
    fake_nvml.configure(gpus=FOUR[:1])
    with pytest.raises(PreflightError, match="CUDA index 3 does not exist"):
        resolve_devices([3])
    with pytest.raises(PreflightError, match="twice"):
        resolve_devices([0, 0])


def test_no_devices_requested_resolves_to_none(fake_nvml):
    assert resolve_devices([]) == ()


def test_no_nvml_is_a_preflight_error_with_the_fix(fake_nvml):
    fake_nvml.configure(available=False)
    with pytest.raises(PreflightError, match="NVML could not start.*Fix"):
        resolve_devices([0])


def test_libcuda_answer_wins_and_pci_domains_of_both_widths_match(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # libcuda has already applied it
    monkeypatch.setattr(
        cuda_driver,
        "query",
        lambda: [
            cuda_driver.CudaDevice(0, "0000:19:00.0", None),  # by PCI id (4-digit domain)
            cuda_driver.CudaDevice(1, "0000:99:00.0", FOUR[0]["uuid"]),  # by UUID
        ],
    )
    devices = resolve_devices([0, 1])
    assert [d.nvml_index for d in devices] == [2, 0]


def test_cuda_device_without_nvml_twin_is_refused(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setattr(
        cuda_driver, "query", lambda: [cuda_driver.CudaDevice(0, "0000:99:00.0", "GPU-x")]
    )
    with pytest.raises(PreflightError, match="no NVML counterpart"):
        resolve_devices([0])


def test_discover_lists_every_gpu_with_its_cuda_ordinal(fake_nvml, monkeypatch):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    found = discover_gpus()
    assert found.reason is None and found.driver_version == "580.159.04"
    assert [(d.nvml_index, d.cuda_index) for d in found.devices] == [
        (0, -1),
        (1, 1),
        (2, -1),
        (3, 0),
    ]


def test_discover_without_nvml_says_why(fake_nvml):
    fake_nvml.configure(available=False)
    found = discover_gpus()
    assert found.devices == () and "NVML" in found.reason and found.fix


def test_discover_without_pynvml_installed_says_what_to_install(monkeypatch):
    import sys

    from llem.telemetry import nvml

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    monkeypatch.setattr(nvml, "_initialised", set())
    found = discover_gpus()
    assert "not installed" in found.reason and "nvidia-ml-py" in found.fix
