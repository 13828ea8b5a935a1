"""The ``zeus`` meter: one ``ZeusMonitor`` window over the experiment's GPUs (and CPUs).

Zeus reads the same NVML energy counter as the built-in nvml meter on Volta and newer
GPUs (its window equals the raw counter difference to the millijoule, GPU-NOTES) and
adds CPU package and DRAM energy through RAPL. Everything slow -- importing Zeus, opening
NVML, matching devices by UUID, spawning Zeus's RAPL wrap-around trackers -- happens in
``prepare`` so that ``start`` and ``stop`` only read counters at the window's edges.
"""

from __future__ import annotations

import importlib.util
import multiprocessing.util
import warnings
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import structlog
from llem.plugin import (
    Device,
    EnergyReading,
    Meter,
    PluginError,
    PreflightError,
    Unavailable,
)

from llem_zeus.config import ZeusConfig
from llem_zeus.identity import (
    DeviceMismatch,
    check_visible_devices_format,
    match_devices,
    zeus_gpu_uuids,
)
from llem_zeus.rapl import RaplStatus, rapl_status, stop_wraparound_trackers
from llem_zeus.reading import build_reading

log = structlog.get_logger()
WINDOW = "llem"
INSTALL_FIX = "pip install llem-zeus (it installs zeus), or choose another energy.meter"
NO_GPU_FIX = (
    "run on a machine with an NVIDIA driver (libnvidia-ml.so), or choose energy.meter: codecarbon"
)


class ZeusMeter(Meter[ZeusConfig]):
    """GPU energy from Zeus (NVML counters), CPU/DRAM from RAPL where readable."""

    name = "zeus"
    requires = ("zeus",)
    install_hint = INSTALL_FIX

    def __init__(self, section: ZeusConfig | None = None) -> None:
        super().__init__(section)
        self._monitor: Any = None
        self._devices: tuple[Device, ...] = ()
        self._zeus_index: dict[str, int] = {}
        self._has_counter: dict[str, bool] = {}
        self._cpu_notes: tuple[str, ...] = ()
        self._open = False

    def prepare(self, devices: Sequence[Device]) -> None:
        """Build the monitor outside the window and prove it measures ``devices``."""
        _, mapping, rapl = self.require(devices)
        cpu_indices, cpu_notes = self._cpu_plan(rapl)
        from zeus.monitor import ZeusMonitor

        gpu_indices = [mapping[d.uuid] for d in devices]
        monitor = ZeusMonitor(
            gpu_indices=gpu_indices,
            cpu_indices=cpu_indices,
            approx_instant_energy=self.section.approx_instant_energy,
        )
        if gpu_indices:
            self._verify_readback(monitor, devices, mapping)
        if self.section.measure_cpu and rapl is not None and rapl.readable:
            if not monitor.cpu_indices:
                cpu_notes += ("CPU and DRAM energy unavailable: Zeus found no RAPL package",)
            for index in monitor.cpu_indices:  # first read spawns the wrap-around tracker
                monitor.cpus.get_total_energy_consumption(index)
            # stop() stops the pollers; should it never run (load fails after prepare),
            # this stops them as the worker exits, before multiprocessing joins children.
            multiprocessing.util.Finalize(
                None, stop_wraparound_trackers, args=(monitor,), exitpriority=10
            )
        self._monitor = monitor
        self._devices = tuple(devices)
        self._zeus_index = mapping
        self._has_counter = {
            d.uuid: bool(monitor.gpus.supports_get_total_energy_consumption(mapping[d.uuid]))
            for d in devices
        }
        self._cpu_notes = cpu_notes
        log.info(
            "zeus.prepared",
            gpu_indices=gpu_indices,
            cpu_indices=list(monitor.cpu_indices),
            uuids=[d.uuid for d in devices],
        )

    def start(self, devices: Sequence[Device]) -> None:
        if self._open:
            raise PluginError("zeus meter: start() called while its window is already open")
        if self._monitor is None or tuple(devices) != self._devices:
            self.prepare(devices)
        # The core synchronizes the backend before closing the window; Zeus's own sync
        # would import torch, which a vLLM or TensorRT-LLM worker need not load this way.
        self._monitor.begin_window(WINDOW, sync_execution=False)
        self._open = True

    def stop(self) -> EnergyReading:
        if not self._open:
            raise PluginError("zeus meter: stop() called without an open window (call start())")
        self._open = False  # Zeus drops the window even when end_window fails
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                measurement = self._monitor.end_window(WINDOW, sync_execution=False)
        finally:
            # Zeus's RAPL pollers would keep the worker process from exiting.
            stop_wraparound_trackers(self._monitor)
            self._monitor = None  # a later window gets a freshly prepared monitor
        return build_reading(
            measurement,
            devices=self._devices,
            zeus_index=self._zeus_index,
            has_counter=self._has_counter,
            approx_instant_energy=self.section.approx_instant_energy,
            cpu_notes=self._cpu_notes,
            zeus_warnings=[str(w.message) for w in caught],
            zeus_version=_zeus_version(),
        )

    def check(self, devices: Sequence[Device]) -> tuple[Any, dict[str, int], RaplStatus | None]:
        """Zeus importable, NVML up, every device visible to Zeus under its UUID, and --
        for a GPU-less experiment -- readable RAPL: (Zeus's GPU list, UUID -> Zeus index,
        RAPL status), or Unavailable."""
        _check_distribution()
        try:
            import zeus.device.gpu as zeus_gpu
        except Exception as exc:  # a broken install must read as unavailable, not crash
            raise Unavailable(
                f"importing zeus failed: {type(exc).__name__}: {exc}", INSTALL_FIX
            ) from exc
        rapl = rapl_status() if self.section.measure_cpu else None
        if not devices:
            if rapl is None:
                raise Unavailable(
                    "no GPU in this experiment and zeus.measure_cpu is false",
                    "set zeus.measure_cpu: true or choose another energy.meter",
                )
            if not rapl.readable:
                raise Unavailable(
                    f"no GPU in this experiment and no CPU energy: {rapl.reason}", rapl.fix or ""
                )
            return None, {}, rapl
        try:
            check_visible_devices_format()
            gpus = zeus_gpu.get_gpus()
            mapping = match_devices(devices, zeus_gpu_uuids(gpus))
        except DeviceMismatch as exc:
            raise Unavailable(exc.reason, exc.fix) from exc
        except Exception as exc:
            raise Unavailable(
                f"Zeus cannot open the GPUs: {exc}{_nvml_error()}", NO_GPU_FIX
            ) from exc
        return gpus, mapping, rapl

    def _cpu_plan(self, rapl: RaplStatus | None) -> tuple[list[int] | None, tuple[str, ...]]:
        """``cpu_indices`` for ZeusMonitor and the notes that say why CPU/DRAM are null."""
        if rapl is None:
            return [], ("CPU and DRAM energy not measured: zeus.measure_cpu is false",)
        if not rapl.readable:
            return [], (f"CPU and DRAM energy unavailable: {rapl.reason}; fix: {rapl.fix}",)
        wanted = self.section.cpu_indices
        if wanted is None:
            return None, ()
        unknown = sorted(set(wanted) - set(rapl.packages)) if rapl.packages else []
        if unknown:
            raise PreflightError(
                f"zeus.cpu_indices {list(wanted)}: package(s) {unknown} do not exist; RAPL "
                f"exposes {list(rapl.packages)}. Fix: remove them or leave zeus.cpu_indices unset"
            )
        return list(wanted), ()

    @staticmethod
    def _verify_readback(monitor: Any, devices: Sequence[Device], mapping: dict[str, int]) -> None:
        """Ask the monitor's own GPU objects for their UUIDs: the proof, not an assumption."""
        measured = zeus_gpu_uuids(monitor.gpus)
        for device in devices:
            got = measured[mapping[device.uuid]]
            if got != device.uuid:
                raise PreflightError(
                    f"zeus meter: Zeus index {mapping[device.uuid]} measures GPU {got}, but llem "
                    f"resolved CUDA index {device.cuda_index} to {device.uuid}. Fix: set "
                    "CUDA_DEVICE_ORDER=PCI_BUS_ID, or use energy.meter: nvml"
                )


def _check_distribution() -> None:
    """The ``zeus`` import name also belongs to the old ``zeus-ml`` distribution."""
    try:
        version = metadata.version("zeus")
    except metadata.PackageNotFoundError:
        try:
            old = metadata.version("zeus-ml")
        except metadata.PackageNotFoundError:
            if importlib.util.find_spec("zeus") is None:
                raise Unavailable("the zeus package is not installed", INSTALL_FIX) from None
            return  # importable without metadata (a source tree on PYTHONPATH)
        raise Unavailable(
            f"the old zeus-ml {old} provides the `zeus` module; llem needs the current `zeus`",
            "pip uninstall zeus-ml && pip install 'zeus>=0.11'",
        ) from None
    major_minor = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if major_minor < (0, 11):
        raise Unavailable(
            f"zeus {version} is too old (llem needs >= 0.11)", "pip install -U 'zeus>=0.11'"
        )


def _zeus_version() -> str | None:
    try:
        return metadata.version("zeus")
    except metadata.PackageNotFoundError:
        import zeus

        return getattr(zeus, "__version__", None)


def _nvml_error() -> str:
    """NVML's own words for why it cannot start (Zeus logs them at INFO and moves on)."""
    try:
        from zeus.device.gpu import nvidia as zeus_nvidia

        zeus_nvidia.pynvml.nvmlInit()
    except Exception as exc:
        return f" (NVML: {exc})"
    return ""
