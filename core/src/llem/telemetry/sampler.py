"""The telemetry sampler: one background thread that reads every GPU at a fixed period.

It sleeps between reads with ``Event.wait`` -- on the GPU machine a thread that polled
NVML in a busy loop took the GIL from the generating thread and slowed generation about
5x. Each sample is stamped with ``time.perf_counter_ns()``, the clock the backends stamp
request times with, so power and requests line up. The energy counter (~4 ms a read on
an H100) is read in the first and the last sample, the window's edges, and once every
``energy_every_s`` between them: those reads anchor the energy of any part of the window
(llem.telemetry.integrate.anchored_j), which power samples alone misjudge where power
swings faster than they come.

The sampler that runs during the measurement window announces itself
(``active_sampler``) so that the nvml meter can integrate its power on GPUs without an
energy counter instead of starting a second thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

import structlog

from llem.interfaces import Device
from llem.telemetry.reader import GpuReader
from llem.telemetry.timeseries import Timeseries

log = structlog.get_logger()

PowerCallback = Callable[[Mapping[str, float]], None]

_active: TelemetrySampler | None = None


def active_sampler() -> TelemetrySampler | None:
    """The announced sampler that is running now in this process, if any."""
    return _active if _active is not None and _active.running else None


class TelemetrySampler:
    """Samples ``devices`` every ``interval_s`` between ``start()`` and ``stop()``.

    ``full=False`` reads power only (idle baseline, the live power display).
    ``on_power`` receives {uuid: watts} about every ``power_every_s`` seconds, from the
    sampler thread. ``edge_energy`` reads the energy counter in the first and last
    sample, and then every ``energy_every_s`` (None: at the edges only). ``announce`` makes
    it the ``active_sampler()`` while it runs.
    """

    def __init__(
        self,
        devices: Sequence[Device],
        interval_s: float = 0.1,
        *,
        full: bool = True,
        edge_energy: bool = True,
        energy_every_s: float | None = 1.0,
        keep: bool = True,
        on_power: PowerCallback | None = None,
        power_every_s: float = 1.0,
        announce: bool = False,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.devices = tuple(devices)
        self.interval_s = float(interval_s)
        self.full = full
        self.edge_energy = edge_energy
        self.energy_every_s = energy_every_s if edge_energy else None
        self.keep = keep
        self.on_power = on_power
        self.power_every_s = power_every_s
        self.announce = announce
        self.timeseries = Timeseries()
        self.readers: list[GpuReader] = []
        self.error: str | None = None
        self.running = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_emit = 0.0
        self._last_energy = 0.0
        self.latest: dict[str, float] = {}

    @property
    def power_sources(self) -> dict[str, str | None]:
        return {r.device.uuid: r.power_source for r in self.readers}

    def start(self) -> TelemetrySampler:
        global _active
        if self.running:
            raise RuntimeError("the sampler is already running")
        self.readers = [GpuReader(d) for d in self.devices]
        self._stop.clear()
        self.sample(energy=self.edge_energy)
        self._last_energy = time.perf_counter()
        self.running = True
        if self.announce:
            _active = self
        self._thread = threading.Thread(target=self._run, name="llem-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Timeseries:
        """Stop the thread, take the closing sample (with the energy counter), return
        everything recorded."""
        global _active
        if not self.running:
            return self.timeseries
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.running = False
        if _active is self:
            _active = None
        self.sample(energy=self.edge_energy)
        return self.timeseries

    def power_rows(self, uuid: str) -> list[tuple[int, float]]:
        """(t_ns, watts) of one GPU so far; safe while the thread runs."""
        with self._lock:
            return self.timeseries.rows(uuid, "power_w")

    def sample(self, energy: bool = False) -> None:
        """Read every GPU once now (thread-safe; also called by the nvml meter's stop)."""
        with self._lock:
            for reader in self.readers:
                t_ns = time.perf_counter_ns()
                counter = reader.energy_mj() if energy else None  # first: it anchors t_ns
                watts = reader.power_w()
                state = reader.state() if self.full else {}
                if watts is not None:
                    self.latest[reader.device.uuid] = watts
                if self.keep:
                    self.timeseries.append(reader.device, t_ns, watts, counter, state)

    def _run(self) -> None:
        next_t = time.perf_counter() + self.interval_s
        try:
            while not self._stop.wait(max(0.0, next_t - time.perf_counter())):
                start = time.perf_counter()
                every = self.energy_every_s
                energy = every is not None and start - self._last_energy >= every
                if energy:
                    self._last_energy = start
                self.sample(energy=energy)
                now = time.perf_counter()
                next_t += self.interval_s
                if next_t < now:  # fell behind (a slow read): skip, do not burst
                    next_t = now + self.interval_s
                self._emit(now)
        except Exception as exc:  # a dying sampler must not take the experiment with it
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("telemetry.sampler_failed", error=self.error)

    def _emit(self, now: float) -> None:
        if self.on_power is None or now - self._last_emit < self.power_every_s:
            return
        self._last_emit = now
        try:
            self.on_power(dict(self.latest))
        except Exception as exc:  # the display is not worth a measurement
            log.debug("telemetry.power_callback_failed", error=str(exc))
