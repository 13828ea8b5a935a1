"""Idle power of the experiment's GPUs, measured before the model loads, cached per GPU.

The baseline is the time-weighted mean of the telemetry sampler's power readings over
``baseline.duration_s`` with nothing running. It is subtracted from the window's energy
to give the energy the workload added (``adjusted_j``). Measuring it costs 30 s, so it
is kept per GPU UUID in ``baseline.json`` under the cache directory
($LLEM_CACHE_DIR, else $XDG_CACHE_HOME/llem, else ~/.cache/llem) and reused while
younger than ``baseline.cache_ttl_s``.

A GPU that has just worked keeps cooling for tens of seconds, its power falling as it
does (on an H200, 123 W a minute after load against 80 W at rest). A baseline taken then
overstates idle power, so the measurement runs on, up to ``baseline.max_settle_s`` more,
until the first and last thirds of its trailing ``duration_s`` agree within
SETTLED_TOLERANCE; the mean of that trailing span is the baseline. One that never
settles is reported (``settled=False``, a measurement warning) and not cached.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import structlog

from llem.config.schema import BaselineConfig
from llem.interfaces import Device
from llem.results.io import write_json_atomic
from llem.telemetry import integrate
from llem.telemetry.sampler import PowerCallback, TelemetrySampler

log = structlog.get_logger()

CACHE_NAME = "baseline.json"
CACHE_VERSION = 1
SETTLED_TOLERANCE = (2.0, 0.02)  # watts, fraction of the mean: the larger applies
SETTLE_CHECK_S = 1.0


@attrs.frozen
class Baseline:
    per_device_w: Mapping[str, float]  # by GPU UUID
    source: str  # measured | cache
    measured_at: float  # epoch seconds
    duration_s: float
    samples: Mapping[str, int]
    settled: bool = True
    drift_w: Mapping[str, float] = attrs.field(factory=dict)  # last third - first third

    @property
    def total_w(self) -> float:
        return sum(self.per_device_w.values())


def cache_dir() -> Path:
    if os.environ.get("LLEM_CACHE_DIR"):
        return Path(os.environ["LLEM_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "llem"


def idle_baseline(
    devices: Sequence[Device],
    cfg: BaselineConfig,
    *,
    interval_s: float = 0.1,
    on_power: PowerCallback | None = None,
    clock: Callable[[], float] = time.time,
) -> Baseline | None:
    """The idle baseline of ``devices`` (cached or measured); None without devices."""
    if not devices:
        return None
    now = clock()
    cached = _from_cache(devices, cfg.cache_ttl_s, now)
    if cached is not None:
        log.info("baseline.cached", power_w=dict(cached.per_device_w))
        return cached
    measured = measure(devices, cfg, interval_s, on_power, now)
    if measured.settled:
        _store(measured)
    log.info(
        "baseline.measured",
        power_w=dict(measured.per_device_w),
        settled=measured.settled,
        duration_s=round(measured.duration_s, 1),
    )
    return measured


def measure(
    devices: Sequence[Device],
    cfg: BaselineConfig,
    interval_s: float,
    on_power: PowerCallback | None,
    now: float,
) -> Baseline:
    sampler = TelemetrySampler(
        devices, interval_s, full=False, edge_energy=False, on_power=on_power
    ).start()
    span_ns = int(cfg.duration_s * 1e9)
    t0 = time.perf_counter_ns()
    deadline = t0 + int((cfg.duration_s + cfg.max_settle_s) * 1e9)
    time.sleep(cfg.duration_s)
    while True:
        t1 = time.perf_counter_ns()
        points = {d.uuid: sampler.power_rows(d.uuid) for d in devices}
        drift = {u: d for u, p in points.items() if (d := drift_w(p, t1 - span_ns, t1)) is not None}
        settled = all(
            is_settled(drift[u], p, t1 - span_ns, t1) for u, p in points.items() if u in drift
        )
        if settled or t1 >= deadline:
            break
        time.sleep(min(SETTLE_CHECK_S, (deadline - t1) / 1e9))
    sampler.stop()
    power: dict[str, float] = {}
    for uuid, pts in points.items():
        mean = integrate.mean_power_w(pts, t1 - span_ns, t1)
        if mean is not None:
            power[uuid] = mean
    if not settled:
        log.warning("baseline.unsettled", drift_w=drift)
    return Baseline(
        power,
        "measured",
        now,
        round((t1 - t0) / 1e9, 1),
        {u: len(p) for u, p in points.items()},
        settled,
        drift,
    )


def drift_w(points: Sequence[integrate.Point], start_ns: int, end_ns: int) -> float | None:
    """Mean power of the span's last third minus its first third (negative: cooling)."""
    third = (end_ns - start_ns) // 3
    first = integrate.mean_power_w(points, start_ns, start_ns + third)
    last = integrate.mean_power_w(points, end_ns - third, end_ns)
    return None if first is None or last is None else last - first


def is_settled(drift: float, points: Sequence[integrate.Point], start_ns: int, end_ns: int) -> bool:
    mean = integrate.mean_power_w(points, start_ns, end_ns) or 0.0
    watts, fraction = SETTLED_TOLERANCE
    return abs(drift) <= max(watts, fraction * mean)


def _from_cache(devices: Sequence[Device], ttl_s: float, now: float) -> Baseline | None:
    if ttl_s <= 0:
        return None
    entries = _read_cache().get("gpus", {})
    found = [entries.get(d.uuid) for d in devices]
    if any(not isinstance(e, dict) for e in found):
        return None
    try:
        if any(
            now - float(e["measured_at"]) > ttl_s or now < float(e["measured_at"]) for e in found
        ):
            return None
        return Baseline(
            per_device_w={d.uuid: float(e["power_w"]) for d, e in zip(devices, found, strict=True)},
            source="cache",
            measured_at=min(float(e["measured_at"]) for e in found),
            duration_s=min(float(e["duration_s"]) for e in found),
            samples={d.uuid: int(e.get("samples", 0)) for d, e in zip(devices, found, strict=True)},
        )
    except (KeyError, TypeError, ValueError):
        return None


def _read_cache() -> dict[str, Any]:
    path = cache_dir() / CACHE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else {}


def _store(baseline: Baseline) -> None:
    data = _read_cache() or {"version": CACHE_VERSION, "gpus": {}}
    gpus = data.setdefault("gpus", {})
    for uuid, watts in baseline.per_device_w.items():
        gpus[uuid] = {
            "power_w": watts,
            "measured_at": baseline.measured_at,
            "duration_s": baseline.duration_s,
            "samples": baseline.samples.get(uuid, 0),
        }
    try:
        write_json_atomic(cache_dir() / CACHE_NAME, data)
    except OSError as exc:  # a read-only home must not fail the experiment
        log.warning("baseline.cache_unwritable", error=str(exc))
