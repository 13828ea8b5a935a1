"""The fake pynvml must look like the real one where llem touches it, or tests prove
nothing. Checked against the installed nvidia-ml-py."""

from __future__ import annotations

import inspect
import time

import pytest

from tests.fakes.machine import load_fake_pynvml

real = pytest.importorskip("pynvml")
if getattr(real, "FAKE_NVML", False):  # pragma: no cover - a fake leaked into sys.modules
    pytest.skip("the real pynvml is shadowed", allow_module_level=True)

USED = [
    "nvmlInit",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlSystemGetCudaDriverVersion",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetHandleByUUID",
    "nvmlDeviceGetHandleByPciBusId",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetPciInfo",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetCudaComputeCapability",
    "nvmlDeviceGetPersistenceMode",
    "nvmlDeviceGetPowerManagementLimit",
    "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetMaxClockInfo",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetFieldValues",
    "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetIndex",
]


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    module = load_fake_pynvml()
    module.configure(gpus=[{}, {"energy_counter": False, "power_instant": False}])
    module.nvmlInit()
    return module


@pytest.mark.parametrize("name", USED)
def test_functions_exist_in_real_pynvml_with_the_same_positional_arity(name, fake):
    real_params = [
        p
        for p in inspect.signature(getattr(real, name)).parameters.values()
        if p.default is inspect.Parameter.empty
    ]
    fake_params = [
        p
        for p in inspect.signature(getattr(fake, name)).parameters.values()
        if p.default is inspect.Parameter.empty
    ]
    assert len(real_params) == len(fake_params)


def test_constants_match_the_real_module(fake):
    for name in dir(fake):
        if name.startswith(
            ("NVML_", "nvmlClocksEventReason", "nvmlClocksThrottleReason")
        ) and hasattr(real, name):
            assert getattr(fake, name) == getattr(real, name), name


def test_errors_map_value_to_subclass_like_the_real_module(fake):
    err = fake.NVMLError(fake.NVML_ERROR_NOT_SUPPORTED)
    assert isinstance(err, fake.NVMLError_NotSupported)
    assert err.value == 3
    assert str(err) == str(real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED))
    with pytest.raises(fake.NVMLError_NotSupported):
        fake.nvmlDeviceGetTotalEnergyConsumption(fake.nvmlDeviceGetHandleByIndex(1))


def test_calls_before_init_raise_uninitialized():
    module = load_fake_pynvml()
    with pytest.raises(module.NVMLError_Uninitialized):
        module.nvmlDeviceGetCount()


def test_unavailable_machine_fails_init_like_a_missing_driver():
    module = load_fake_pynvml()
    module.configure(available=False)
    with pytest.raises(module.NVMLError_LibraryNotFound):
        module.nvmlInit()


def test_energy_counter_integrates_simulated_power_over_wall_time(fake):
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    fake.set_power(0, 300.0)
    e0, t0 = fake.nvmlDeviceGetTotalEnergyConsumption(handle), time.monotonic()
    time.sleep(0.2)
    e1, t1 = fake.nvmlDeviceGetTotalEnergyConsumption(handle), time.monotonic()
    assert (e1 - e0) / 1000 == pytest.approx(300.0 * (t1 - t0), rel=0.05)
    assert fake.nvmlDeviceGetPowerUsage(handle) == 300_000  # mW


def test_field_values_report_errors_per_field(fake):
    values = fake.nvmlDeviceGetFieldValues(fake.nvmlDeviceGetHandleByIndex(0), [186, 9999])
    assert values[0].nvmlReturn == 0 and values[0].value.uiVal == 70_000
    assert values[1].nvmlReturn == fake.NVML_ERROR_NOT_SUPPORTED
    assert [f for f, _ in real.c_nvmlFieldValue_t._fields_] == [
        f for f, _ in fake.c_nvmlFieldValue_t._fields_
    ]
    unsupported = fake.nvmlDeviceGetFieldValues(fake.nvmlDeviceGetHandleByIndex(1), [186])
    assert unsupported[0].nvmlReturn == fake.NVML_ERROR_NOT_SUPPORTED


def test_update_interval_quantises_readings():
    module = load_fake_pynvml()
    module.configure(gpus=[{"update_interval_s": 0.1}])
    module.nvmlInit()
    handle = module.nvmlDeviceGetHandleByIndex(0)
    time.sleep(0.11)
    pairs = [
        (
            module.nvmlDeviceGetTotalEnergyConsumption(handle),
            module.nvmlDeviceGetTotalEnergyConsumption(handle),
        )
        for _ in range(3)
    ]
    assert sum(a == b for a, b in pairs) >= 2  # back-to-back reads see the same update
