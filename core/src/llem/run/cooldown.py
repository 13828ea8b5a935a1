"""The pause before an experiment: a fixed gap, or until its GPUs have cooled.

A gap exists so that the next measurement does not start on a GPU still hot from the
last one (a hot GPU draws more power for the same work, and throttles sooner). With
``execution.cooldown: temperature`` the gap ends as soon as every GPU of the next
experiment is back within ``cooldown_tolerance_c`` of its idle temperature (read once,
before the study's first experiment, while nothing of the study ran); the configured
gap stays the maximum. Without a reading (no NVML, an unknown GPU, no idle reference)
the full gap is waited, so a missing sensor never shortens a cool-down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import structlog

from llem.run.executors import Pause

log = structlog.get_logger()

POLL_S = 0.5
Tick = Callable[[float, str], None]


def gpu_temperatures(uuids: Sequence[str] | None = None) -> dict[str, float]:
    """Current temperature (°C) of these GPUs by UUID (all of NVML's when None);
    GPUs that cannot be read are left out, never guessed."""
    try:
        from llem.telemetry.nvml import nvml, text

        lib = nvml()
        handles = (
            [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
            if uuids is None
            else [lib.nvmlDeviceGetHandleByUUID(u) for u in uuids]
        )
        return {
            text(lib.nvmlDeviceGetUUID(h)): float(lib.nvmlDeviceGetTemperature(h, 0))
            for h in handles
        }
    except Exception as exc:  # no NVML, a lost GPU: the caller waits the full gap
        log.info("cooldown.no_temperature", error=f"{type(exc).__name__}: {exc}")
        return {}


def cooled(now_c: Mapping[str, float], idle_c: Mapping[str, float], tolerance_c: float) -> bool:
    """Every GPU has a reading and an idle reference, and is within the tolerance."""
    return bool(now_c) and all(
        uuid in idle_c and temp <= idle_c[uuid] + tolerance_c for uuid, temp in now_c.items()
    )


def wait(
    pause: Pause,
    uuids: Sequence[str],
    idle_c: Mapping[str, float],
    tick: Tick | None = None,
    read: Callable[[Sequence[str]], Mapping[str, float]] = gpu_temperatures,
) -> float:
    """Wait out ``pause`` for the GPUs ``uuids``; the seconds actually waited."""
    if pause.seconds <= 0:
        return 0.0
    start = time.monotonic()
    deadline = start + pause.seconds
    by_temperature = pause.mode == "temperature" and bool(uuids) and bool(idle_c)
    while (left := deadline - time.monotonic()) > 0:
        if by_temperature and cooled(read(uuids), idle_c, pause.tolerance_c):
            log.info("cooldown.cooled", gpus=list(uuids), saved_s=round(left, 1))
            break
        if tick is not None:
            tick(left, pause.reason)
        time.sleep(min(POLL_S, left))
    if tick is not None:
        tick(0, pause.reason)
    return time.monotonic() - start
