from __future__ import annotations

import json

import pytest
from llem.config.schema import BaselineConfig
from llem.measure import baseline as bl
from llem.telemetry.devices import resolve_devices


def test_baseline_is_the_mean_idle_power_per_gpu_and_is_cached(fake_nvml, tmp_path):
    fake_nvml.configure(gpus=[{"power_w": 60.0}, {"power_w": 80.0}])
    devices = resolve_devices([0, 1])
    cfg = BaselineConfig(duration_s=0.3, cache_ttl_s=3600)
    first = bl.idle_baseline(devices, cfg, interval_s=0.05, clock=lambda: 1000.0)
    assert first.source == "measured" and first.total_w == pytest.approx(140.0)
    assert first.per_device_w[devices[0].uuid] == pytest.approx(60.0)
    assert all(n >= 5 for n in first.samples.values())
    cache = json.loads((tmp_path / "cache" / "baseline.json").read_text())
    assert set(cache["gpus"]) == {d.uuid for d in devices}
    fake_nvml.set_power(None, 500.0)  # would change a new measurement
    again = bl.idle_baseline(devices, cfg, interval_s=0.05, clock=lambda: 2000.0)
    assert again.source == "cache" and again.total_w == pytest.approx(140.0)


def test_expired_or_disabled_cache_measures_again(fake_nvml):
    fake_nvml.configure(gpus=[{"power_w": 60.0}])
    devices = resolve_devices([0])
    cfg = BaselineConfig(duration_s=0.1, cache_ttl_s=100)
    bl.idle_baseline(devices, cfg, interval_s=0.05, clock=lambda: 1000.0)
    fake_nvml.set_power(None, 90.0)
    later = bl.idle_baseline(devices, cfg, interval_s=0.05, clock=lambda: 1200.0)
    assert later.source == "measured" and later.total_w == pytest.approx(90.0)
    no_cache = BaselineConfig(duration_s=0.1, cache_ttl_s=0)
    assert bl.idle_baseline(devices, no_cache, interval_s=0.05).source == "measured"


def test_a_gpu_missing_from_the_cache_is_measured(fake_nvml):
    fake_nvml.configure(gpus=[{}, {}])
    cfg = BaselineConfig(duration_s=0.1)
    bl.idle_baseline(resolve_devices([0]), cfg, interval_s=0.05)
    assert bl.idle_baseline(resolve_devices([0, 1]), cfg, interval_s=0.05).source == "measured"


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "a"))
    assert bl.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("LLEM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bl.cache_dir() == tmp_path / "xdg" / "llem"


def test_corrupt_cache_is_ignored(fake_nvml, tmp_path):
    fake_nvml.configure(gpus=[{}])
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "baseline.json").write_text("{not json")
    out = bl.idle_baseline(resolve_devices([0]), BaselineConfig(duration_s=0.1), interval_s=0.05)
    assert out.source == "measured"


def test_no_devices_no_baseline():
    assert bl.idle_baseline([], BaselineConfig()) is None


def _power_script(fake_nvml, steps):  # type: ignore[no-untyped-def]
    """Set the fake GPU's power to each (delay_s, watts) in turn, from a thread."""
    import threading
    import time

    def play() -> None:
        for delay, watts in steps:
            time.sleep(delay)
            fake_nvml.set_power(None, watts)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_a_cooling_gpu_is_measured_until_its_power_settles(fake_nvml, tmp_path, monkeypatch):
    monkeypatch.setattr(bl, "SETTLE_CHECK_S", 0.1)
    fake_nvml.configure(gpus=[{"power_w": 150.0}])
    devices = resolve_devices([0])
    _power_script(fake_nvml, [(0.25, 80.0)])  # still cooling when duration_s ends
    out = bl.idle_baseline(
        devices, BaselineConfig(duration_s=0.3, max_settle_s=3.0), interval_s=0.02
    )
    assert out.settled
    assert out.total_w == pytest.approx(80.0, abs=0.5)  # the trailing span, not the warm start
    assert 0.5 <= out.duration_s <= 1.5
    assert (tmp_path / "cache" / "baseline.json").exists()


def test_a_gpu_that_never_settles_is_reported_and_not_cached(fake_nvml, tmp_path, monkeypatch):
    monkeypatch.setattr(bl, "SETTLE_CHECK_S", 0.1)
    fake_nvml.configure(gpus=[{"power_w": 200.0}])
    devices = resolve_devices([0])
    _power_script(fake_nvml, [(0.02, 200.0 - i) for i in range(1, 60)])  # -50 W/s
    out = bl.idle_baseline(
        devices, BaselineConfig(duration_s=0.3, max_settle_s=0.3), interval_s=0.02
    )
    assert not out.settled
    assert out.drift_w[devices[0].uuid] < -2.0
    assert 0.55 <= out.duration_s <= 1.0  # duration_s + max_settle_s, give or take a check
    assert not (tmp_path / "cache" / "baseline.json").exists()


def test_flat_power_settles_at_once(fake_nvml, tmp_path):
    fake_nvml.configure(gpus=[{"power_w": 70.0}])
    out = bl.idle_baseline(
        resolve_devices([0]), BaselineConfig(duration_s=0.3, max_settle_s=5), interval_s=0.02
    )
    assert out.settled and out.duration_s < 0.6


def test_drift_compares_the_last_third_with_the_first():
    s = 1_000_000_000
    falling = [(0, 120.0), (s, 100.0), (2 * s, 90.0), (3 * s, 90.0)]
    assert bl.drift_w(falling, 0, 3 * s) == pytest.approx(90.0 - 110.0)
    assert bl.drift_w([], 0, 3 * s) is None
    assert bl.is_settled(-1.5, falling, 0, 3 * s)  # within 2 W
    assert not bl.is_settled(-20.0, falling, 0, 3 * s)
