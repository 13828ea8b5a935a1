"""The ``codecarbon`` meter: energy by component and CO2 from codecarbon's public tracker.

One ``OfflineEmissionsTracker`` (or, only with ``carbon.online`` and no country, the
online ``EmissionsTracker``) per experiment, used through its public task API:
``start_task`` opens the window and ``stop_task`` returns the window's ``EmissionsData``
(energies in kWh, emissions in kg). Every tracker argument that could change the figures
or write somewhere is passed explicitly, so a user's ``~/.codecarbon.config`` or
``CODECARBON_*`` variables cannot add a PUE, a forced intensity, an emissions.csv, or an
API call behind llem's back.

GPU energy is codecarbon's read of the NVML energy counter of the GPUs it is told to
track (NVML indices, see ``gpu_ids`` below); CPU energy is RAPL where readable, otherwise
codecarbon's estimate from CPU load x TDP; RAM energy is always its power-model estimate.
The reading's method is therefore ``estimate``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
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

from llem_codecarbon.config import CodecarbonConfig
from llem_codecarbon.library import import_codecarbon, version_problem
from llem_codecarbon.reading import build_reading

log = structlog.get_logger()
INSTALL_FIX = "pip install llem-codecarbon (it installs codecarbon>=3)"
_window_numbers = itertools.count(1)


class CodeCarbonMeter(Meter[CodecarbonConfig]):
    """CPU, GPU and RAM energy plus CO2, as codecarbon estimates them."""

    name = "codecarbon"
    requires = ("codecarbon",)
    install_hint = INSTALL_FIX
    takes_carbon = True

    def __init__(self, section: CodecarbonConfig | None = None, carbon: Any = None) -> None:
        """``carbon`` is the experiment's core ``CarbonConfig`` (where the machine is):
        the lifecycle passes it because ``takes_carbon`` is set."""
        super().__init__(section)
        self.carbon = carbon
        self._tracker: Any = None
        self._devices: tuple[Device, ...] = ()
        self._task: str | None = None

    def prepare(self, devices: Sequence[Device]) -> None:
        """Build the tracker and run one empty task outside the window: hardware
        detection, CPU TDP lookup and (online only) the location lookup happen here."""
        self.require(devices)
        tracker = self._make_tracker(devices)
        tracker.get_detected_hardware()
        tracker.start_task("llem-prepare")
        if tracker.stop_task("llem-prepare") is None:
            raise PreflightError(
                "codecarbon meter: codecarbon's tracker failed to start (it logs why at "
                "level warning). Fix: set codecarbon.log_level: warning and look at its output"
            )
        self._tracker = tracker
        self._devices = tuple(devices)
        log.info(
            "codecarbon.prepared",
            gpu_ids=[d.nvml_index for d in devices],
            tracker=type(tracker).__name__,
        )

    def start(self, devices: Sequence[Device]) -> None:
        if self._task is not None:
            raise PluginError("codecarbon meter: start() called while its window is open")
        if self._tracker is None or tuple(devices) != self._devices:
            self.prepare(devices)
        self._task = f"llem-window-{next(_window_numbers)}"
        self._tracker.start_task(self._task)

    def stop(self) -> EnergyReading:
        if self._task is None:
            raise PluginError("codecarbon meter: stop() called without an open window")
        task, self._task = self._task, None
        data = self._tracker.stop_task(task)
        if data is None:
            raise PluginError(
                "codecarbon meter: codecarbon returned no measurement for the window. Fix: "
                "set codecarbon.log_level: warning to see codecarbon's reason"
            )
        return build_reading(data, devices=self._devices, section=self.section, carbon=self.carbon)

    def check(self, devices: Sequence[Device]) -> None:
        """codecarbon importable and recent enough, and NVML sees ``devices``."""
        super().check(devices)
        try:
            import_codecarbon(self.section.log_level)
        except Exception as exc:
            raise Unavailable(
                f"importing codecarbon failed: {type(exc).__name__}: {exc}", INSTALL_FIX
            ) from exc
        problem = version_problem()
        if problem:
            raise Unavailable(problem, "pip install -U 'codecarbon>=3'")
        if devices:
            _check_gpus(devices)

    def _make_tracker(self, devices: Sequence[Device]) -> Any:
        import codecarbon

        s = self.section
        common: dict[str, Any] = dict(
            project_name="llem",
            measure_power_secs=s.measure_power_secs,
            tracking_mode=s.tracking_mode,
            log_level=s.log_level,
            # codecarbon's GPU index is the NVML enumeration index (AllGPUDevices walks
            # nvmlDeviceGetHandleByIndex); it ignores CUDA_VISIBLE_DEVICES once ids are
            # given. UUID ids would be safer, but codecarbon 3.3 strips "GPU-" wrongly.
            gpu_ids=[d.nvml_index for d in devices],
            output_methods=[],  # no emissions.csv, no API, no logger output
            output_handlers=[],
            emissions_endpoint=None,
            api_call_interval=-1,
            allow_multiple_runs=True,  # no lock file
            pue=1.0,
            wue=0.0,
            force_cpu_power=s.force_cpu_power_w,
            force_ram_power=s.force_ram_power_w,
            force_carbon_intensity_g_co2e_kwh=None,
            force_mode_cpu_load=False,
            rapl_include_dram=False,  # RAM stays a separate component
            rapl_prefer_psys=False,
        )
        carbon = self.carbon
        country = getattr(carbon, "country_iso_code", None)
        if country or not getattr(carbon, "online", False):
            return codecarbon.OfflineEmissionsTracker(
                country_iso_code=country.upper() if country else None,
                region=getattr(carbon, "region", None),
                cloud_provider=None,
                cloud_region=None,
                electricitymaps_api_token="",  # never call Electricity Maps offline
                **common,
            )
        return codecarbon.EmissionsTracker(**common)


def _check_gpus(devices: Sequence[Device]) -> None:
    """codecarbon must see these GPUs, under these NVML indices, or it reports 0 J."""
    from codecarbon.core import gpu as cc_gpu

    if not cc_gpu.is_nvidia_system():
        raise Unavailable(
            "codecarbon tracks NVIDIA GPUs only when the `nvidia-smi` command runs, and it "
            "does not here; it would report no GPU energy",
            "put nvidia-smi on PATH, or choose energy.meter: nvml or zeus",
        )
    if not cc_gpu.PYNVML_AVAILABLE:
        raise Unavailable(
            "codecarbon could not initialise NVML (pynvml) when imported",
            "install the NVIDIA driver and nvidia-ml-py",
        )
    by_index = {
        info["gpu_index"]: info["uuid"] for info in cc_gpu.AllGPUDevices().get_gpu_static_info()
    }
    for device in devices:
        seen = by_index.get(device.nvml_index)
        if seen != device.uuid:
            raise Unavailable(
                f"codecarbon's GPU {device.nvml_index} is {seen or 'absent'}, not "
                f"{device.uuid} (CUDA index {device.cuda_index})",
                "report this: llem and codecarbon disagree on NVML numbering; use "
                "energy.meter: nvml meanwhile",
            )
