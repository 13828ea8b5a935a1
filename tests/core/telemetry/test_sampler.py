"""The telemetry sampler: one sleeping thread, edge-only energy reads, long-format output."""

from __future__ import annotations

import threading
import time

import pyarrow.parquet as pq
import pytest
from llem.telemetry.devices import resolve_devices
from llem.telemetry.sampler import TelemetrySampler, active_sampler
from llem.telemetry.timeseries import COLUMNS, Timeseries


def _run(devices, seconds=0.35, **kwargs):  # type: ignore[no-untyped-def]
    sampler = TelemetrySampler(devices, 0.05, **kwargs).start()
    time.sleep(seconds)
    return sampler, sampler.stop()


def test_samples_every_interval_from_one_thread_and_reads_energy_only_at_edges(fake_nvml):
    fake_nvml.configure(gpus=[{}, {}])
    devices = resolve_devices([0, 1])
    before = threading.active_count()
    sampler = TelemetrySampler(devices, 0.05).start()
    assert threading.active_count() == before + 1
    time.sleep(0.5)
    series = sampler.stop()
    per_gpu = series.samples(devices[0].uuid)
    assert 8 <= per_gpu <= 13  # ~0.5 s / 50 ms, plus the two edge samples
    assert fake_nvml.call_count("nvmlDeviceGetTotalEnergyConsumption") == 4  # 2 GPUs x 2 edges
    energy = series.rows(devices[0].uuid, "energy_mj")
    assert len(energy) == 2 and energy[1][1] > energy[0][1]
    assert threading.active_count() == before


def test_the_counter_is_also_read_every_energy_every_s_to_anchor_the_window(fake_nvml):
    fake_nvml.configure(gpus=[{}])
    devices = resolve_devices([0])
    _, series = _run(devices, 0.55, energy_every_s=0.2)
    reads = series.rows(devices[0].uuid, "energy_mj")
    assert 4 <= len(reads) <= 5  # 2 edges + one about every 0.2 s
    assert all(b[1] > a[1] for a, b in zip(reads, reads[1:], strict=False))
    _, series = _run(devices, 0.3, energy_every_s=None)
    assert len(series.rows(devices[0].uuid, "energy_mj")) == 2


def test_sample_has_power_temperature_memory_utilisation_clocks_and_reasons(fake_nvml):
    fake_nvml.configure(
        gpus=[{"temperature_c": 55, "utilization": 80, "clocks_event_reasons": 0x4}]
    )
    devices = resolve_devices([0])
    _, series = _run(devices, 0.12)
    uuid = devices[0].uuid
    for column in (
        "power_w",
        "temperature_c",
        "memory_used_bytes",
        "memory_total_bytes",
        "sm_util_pct",
        "sm_clock_mhz",
        "mem_clock_mhz",
        "clock_event_reasons",
    ):
        assert series.rows(uuid, column), column
    assert series.rows(uuid, "temperature_c")[0][1] == 55
    assert series.rows(uuid, "clock_event_reasons")[0][1] == 0x4


def test_power_comes_from_the_instant_field_else_power_usage(fake_nvml):
    fake_nvml.configure(gpus=[{}, {"power_instant": False, "power_w": 90.0}])
    sampler, series = _run(resolve_devices([0, 1]), 0.1)
    sources = list(sampler.power_sources.values())
    assert sources == ["instant_field", "power_usage"]
    assert series.rows(sampler.devices[1].uuid, "power_w")[0][1] == 90.0


def test_old_drivers_fall_back_to_throttle_reasons_and_skip_missing_queries(fake_nvml):
    fake_nvml.configure(
        gpus=[
            {
                "missing_functions": [
                    "nvmlDeviceGetCurrentClocksEventReasons",
                    "nvmlDeviceGetUtilizationRates",
                ],
                "clocks_event_reasons": 0x20,
            }
        ]
    )
    devices = resolve_devices([0])
    _, series = _run(devices, 0.15)
    assert series.rows(devices[0].uuid, "clock_event_reasons")[0][1] == 0x20
    assert series.rows(devices[0].uuid, "sm_util_pct") == []
    assert fake_nvml.call_count("nvmlDeviceGetUtilizationRates") == 1  # asked once only


def test_power_callback_about_once_per_period(fake_nvml):
    fake_nvml.configure(gpus=[{}])
    seen = []
    _run(resolve_devices([0]), 0.45, on_power=seen.append, power_every_s=0.2)
    assert 1 <= len(seen) <= 3
    assert list(seen[0].values()) == [70.0]


def test_announced_sampler_is_active_only_while_running(fake_nvml):
    fake_nvml.configure(gpus=[{}])
    sampler = TelemetrySampler(resolve_devices([0]), 0.05, announce=True).start()
    assert active_sampler() is sampler
    sampler.stop()
    assert active_sampler() is None


def test_sampler_sleeps_between_reads_instead_of_spinning(fake_nvml):
    fake_nvml.configure(gpus=[{}])
    sampler = TelemetrySampler(resolve_devices([0]), 0.1).start()
    cpu0 = time.thread_time()
    t0 = time.process_time()
    time.sleep(0.5)
    used = time.process_time() - t0 - (time.thread_time() - cpu0)
    sampler.stop()
    assert used < 0.1  # the sampler thread used well under 20 % of one core


def test_timeseries_parquet_is_long_format_one_row_per_gpu_per_sample(fake_nvml, tmp_path):
    fake_nvml.configure(gpus=[{}, {}])
    sampler, series = _run(resolve_devices([0, 1]), 0.2)
    path = tmp_path / "ts.parquet"
    series.write_parquet(path, t0_ns=series.columns["t_ns"][0])
    table = pq.read_table(path)
    assert set(COLUMNS) | {"t_s"} == set(table.column_names)
    assert table.num_rows == len(series) == 2 * series.samples(sampler.devices[0].uuid)
    assert table.column("t_s").to_pylist()[0] == 0.0
    back = Timeseries.read_parquet(path)
    assert back.columns["power_w"] == series.columns["power_w"]


def test_interval_must_be_positive(fake_nvml):
    with pytest.raises(ValueError):
        TelemetrySampler([], 0)
