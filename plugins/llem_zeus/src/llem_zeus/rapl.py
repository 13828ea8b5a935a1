"""Can Zeus read CPU/DRAM energy here? RAPL's presence and permissions, with the fix.

Zeus itself falls back silently to "no CPU" when RAPL is absent or unreadable (its
``ZeusMonitor`` swallows the permission error unless CPU indices were given). llem must
say *why* CPU and DRAM energy are null, so the same paths are checked here first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import attrs

PERMISSION_FIX = (
    "let this user read the RAPL counters: sudo chmod -R a+r /sys/class/powercap/intel-rapl "
    "(reset at reboot; since Linux 5.10 they are root-only), or run the Zeus daemon and set "
    "ZEUSD_SOCK_PATH; or set zeus.measure_cpu: false to stop asking"
)


@attrs.frozen
class RaplStatus:
    """``readable`` (with the package indices found, empty when a daemon reads them), else
    ``reason`` and ``fix``."""

    readable: bool
    packages: tuple[int, ...] = ()
    reason: str | None = None
    fix: str | None = None


def rapl_status() -> RaplStatus:
    """Check the RAPL directories Zeus uses (``zeus.device.cpu.rapl``), without Zeus's
    side effects (it spawns a wrap-around tracking process on the first read)."""
    if os.environ.get("ZEUSD_SOCK_PATH") or os.environ.get("ZEUSD_HOST_PORT"):
        # Zeus reads RAPL through its daemon, which runs with the privileges it needs.
        # Package indices are known to the daemon only; Zeus asks it.
        return RaplStatus(readable=True)
    from zeus.device.cpu import rapl as zeus_rapl

    base = next(
        (Path(d) for d in (zeus_rapl.RAPL_DIR, zeus_rapl.CONTAINER_RAPL_DIR) if os.path.isdir(d)),
        None,
    )
    if base is None:
        return RaplStatus(
            readable=False,
            reason=f"no RAPL interface on this machine ({zeus_rapl.RAPL_DIR} is absent: the CPU "
            "or kernel does not expose it, or a VM/container hides it)",
            fix="run on bare metal with the intel_rapl (or AMD RAPL) powercap driver, or mount "
            f"it into the container at {zeus_rapl.CONTAINER_RAPL_DIR}",
        )
    packages = sorted(
        int(m.group(1)) for p in base.iterdir() if (m := re.fullmatch(r"intel-rapl:(\d+)", p.name))
    )
    if not packages:
        return RaplStatus(
            readable=False,
            reason=f"{base} exposes no CPU package zones (intel-rapl:N)",
            fix="check that the intel_rapl_common/rapl powercap driver is loaded",
        )
    for counter in _counters(base, packages):
        try:
            read_counter(counter)
        except PermissionError:
            return RaplStatus(
                readable=False,
                reason=f"RAPL energy counters are not readable by this user ({counter}: "
                "permission denied)",
                fix=PERMISSION_FIX,
            )
        except OSError as exc:
            return RaplStatus(
                readable=False, reason=f"cannot read {counter}: {exc}", fix=PERMISSION_FIX
            )
    return RaplStatus(readable=True, packages=tuple(packages))


def _counters(base: Path, packages: list[int]) -> list[Path]:
    """Every energy counter Zeus opens: each package and its subzones (dram, core, ...).
    One unreadable subzone makes Zeus drop CPU measurement altogether."""
    zones = []
    for index in packages:
        package = base / f"intel-rapl:{index}"
        zones += [package, *sorted(package.glob(f"intel-rapl:{index}:*"))]
    return [zone / "energy_uj" for zone in zones]


def read_counter(path: Path) -> int:
    """One read of a RAPL ``energy_uj`` counter (a seam for tests run as root)."""
    return int(path.read_text().strip())


def stop_wraparound_trackers(monitor: Any) -> int:
    """Stop the polling processes Zeus spawned for ``monitor``'s RAPL counters; returns
    how many.

    Zeus (``RaplWraparoundTracker``) starts one *non-daemon* process per RAPL file on its
    first read, stopped only by an ``atexit`` hook. llem's worker is a multiprocessing
    child: it does not run ``atexit`` hooks and joins non-daemon children before exiting,
    so these never-ending pollers would keep it from exiting -- and a SIGKILLed worker
    would leave them behind. Call this once the window is closed: the wrap-around counts
    the window needed have been read by then.
    """
    stopped = 0
    for index in getattr(monitor, "cpu_indices", None) or []:
        cpu = monitor.cpus.cpus[index]
        for rapl_file in (getattr(cpu, "rapl_file", None), getattr(cpu, "dram", None)):
            if rapl_file is None:
                continue  # a zeusd-backed CPU, or no DRAM zone: nothing was spawned
            process = getattr(rapl_file.wraparound_tracker, "process", None)
            if process is None:
                continue
            process.terminate()
            process.join(timeout=1.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=1.0)
            rapl_file.wraparound_tracker.process = None  # Zeus's atexit hook skips it then
            stopped += 1
    return stopped
