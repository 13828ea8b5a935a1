"""Cool-down by temperature on the fake pynvml: a gap ends once the GPUs are back near
their idle temperature, never later than the configured gap, never earlier without a
reading."""

from __future__ import annotations

import threading
import time

import attrs
from llem.run.cooldown import cooled, gpu_temperatures, wait
from llem.run.executors import Pause
from llem.run.study import run_study

from tests.core.run.conftest import quick_study
from tests.fakes.machine import fake_nvml  # noqa: F401  (fixture)


def _uuid(fake):  # type: ignore[no-untyped-def]
    fake.nvmlInit()
    return fake.nvmlDeviceGetUUID(fake.nvmlDeviceGetHandleByIndex(0))


def test_a_gap_ends_when_the_gpu_is_back_within_the_tolerance(fake_nvml):  # noqa: F811
    fake_nvml.configure(gpus=[{"temperature_c": 71}])
    uuid = _uuid(fake_nvml)
    threading.Timer(0.6, lambda: fake_nvml.set_spec(0, temperature_c=41)).start()
    t0 = time.monotonic()
    waited = wait(Pause(10.0, "config_gap_s", "temperature", 2.0), [uuid], {uuid: 40.0})
    assert 0.5 <= waited < 2.5 and time.monotonic() - t0 < 3


def test_a_gpu_that_stays_hot_waits_the_whole_gap(fake_nvml):  # noqa: F811
    fake_nvml.configure(gpus=[{"temperature_c": 60}])
    uuid = _uuid(fake_nvml)
    waited = wait(Pause(1.0, "cycle_gap_s", "temperature", 2.0), [uuid], {uuid: 40.0})
    assert waited >= 1.0


def test_no_idle_reference_or_reading_never_shortens_the_gap(fake_nvml):  # noqa: F811
    fake_nvml.configure(gpus=[{"temperature_c": 40}])
    uuid = _uuid(fake_nvml)
    assert wait(Pause(0.6, "gap", "temperature", 2.0), [uuid], {}) >= 0.6
    assert not cooled({}, {uuid: 40.0}, 2.0)
    assert not cooled({uuid: 40.0}, {"GPU-other": 40.0}, 2.0)
    assert gpu_temperatures(["GPU-not-there"]) == {}


def test_fixed_mode_ignores_the_temperature(fake_nvml):  # noqa: F811
    fake_nvml.configure(gpus=[{"temperature_c": 40}])
    uuid = _uuid(fake_nvml)
    assert wait(Pause(0.6, "gap", "fixed", 2.0), [uuid], {uuid: 40.0}) >= 0.6


def test_a_study_with_cool_gpus_skips_its_gaps_and_says_what_it_saved(
    fake_nvml,  # noqa: F811
    fake_worker,
    tmp_path,
    capsys,
):
    fake_nvml.configure(gpus=[{"temperature_c": 45}])
    study = quick_study(2, 2, cooldown="temperature")
    study = attrs.evolve(
        study, execution=attrs.evolve(study.execution, config_gap_s=5.0, cycle_gap_s=5.0)
    )
    t0 = time.monotonic()
    result = run_study(study, out_dir=tmp_path, progress=True)
    assert result.status == "complete"
    assert time.monotonic() - t0 < 10  # the fixed gaps alone would be 15 s
    out = capsys.readouterr().out
    assert "cool-down by temperature" in out and "saved 0:00:1" in out
