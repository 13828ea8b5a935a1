"""The experiment's GPUs: CUDA ordinals matched to NVML devices by UUID or PCI bus id.

CUDA numbers GPUs after CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER; NVML numbers every
GPU in PCI order. Matching by index would measure the wrong GPU as soon as either
variable is set (CUDA_VISIBLE_DEVICES=2,0 makes CUDA 0 the NVML GPU 2), so devices are
matched by identity: through the CUDA driver (libcuda, which applies both variables
itself; asked in a child process, see cuda_driver) when it is loadable, else by reading
CUDA_VISIBLE_DEVICES the way CUDA does (indices in PCI order, ``GPU-`` UUID prefixes;
parsing stops at the first invalid entry).
MIG instances are refused: NVML's energy counter and power belong to the whole GPU.

Engines that put rank i on "CUDA device i" of child processes (vLLM, TensorRT-LLM) are
kept on the experiment's devices by narrowing CUDA_VISIBLE_DEVICES before they start
(``VisibleDevices``); the children inherit it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import attrs

from llem.errors import PreflightError
from llem.interfaces import Device
from llem.telemetry import cuda_driver
from llem.telemetry.nvml import NvmlUnavailable, nvml, pci_key, text

VISIBLE = "CUDA_VISIBLE_DEVICES"


@attrs.frozen
class GpuDiscovery:
    """Every GPU NVML sees. ``cuda_index`` is the ordinal CUDA_VISIBLE_DEVICES gives it
    in this process (-1: hidden). ``reason`` (and ``fix``) when there are none."""

    devices: tuple[Device, ...]
    driver_version: str | None
    reason: str | None = None
    fix: str | None = None


@attrs.frozen
class _NvmlGpu:
    index: int
    uuid: str
    pci_bus_id: str
    name: str
    memory_total_bytes: int


def discover_gpus() -> GpuDiscovery:
    """All NVML GPUs of this machine (never raises; no CUDA, no torch)."""
    try:
        lib = nvml()
        gpus = _nvml_gpus(lib)
        driver = text(lib.nvmlSystemGetDriverVersion())
    except NvmlUnavailable as exc:
        return GpuDiscovery((), None, exc.reason, exc.fix)
    except Exception as exc:  # a driver in a bad state must not break `llem config`
        return GpuDiscovery(
            (),
            None,
            f"NVML failed: {type(exc).__name__}: {exc}",
            "check the driver with nvidia-smi",
        )
    try:
        order = {g.index: i for i, g in enumerate(_from_environment(gpus))}
    except PreflightError:  # MIG ids: report the GPUs, hidden from CUDA's numbering
        order = {}
    devices = tuple(_device(g, order.get(g.index, -1)) for g in gpus)
    if not devices:
        return GpuDiscovery(
            (),
            driver,
            "NVML found no NVIDIA GPU on this machine",
            "run on a machine with an NVIDIA GPU",
        )
    return GpuDiscovery(devices, driver)


def resolve_devices(cuda_indices: Sequence[int]) -> tuple[Device, ...]:
    """The NVML devices behind ``cuda_indices`` (ordinals as this process sees them).

    Raises PreflightError when NVML is missing, an index does not exist, an index is
    repeated, CUDA_VISIBLE_DEVICES names MIG instances, or a CUDA GPU has no NVML twin.
    """
    if not cuda_indices:
        return ()
    if len(set(cuda_indices)) != len(cuda_indices):
        raise PreflightError(
            f"devices {list(cuda_indices)} lists a GPU twice; list each CUDA index once"
        )
    try:
        gpus = _nvml_gpus(nvml())
    except NvmlUnavailable as exc:
        raise PreflightError(
            f"cannot measure GPUs {list(cuda_indices)}: {exc.reason}. Fix: {exc.fix}"
        ) from None
    _reject_mig(os.environ.get(VISIBLE))
    visible = _cuda_view(gpus)
    devices = []
    for index in cuda_indices:
        if not 0 <= index < len(visible):
            raise PreflightError(
                f"devices: CUDA index {index} does not exist; this process sees "
                f"{len(visible)} GPU(s) ({VISIBLE}={os.environ.get(VISIBLE, '<unset>')!s}, "
                f"NVML GPUs: {len(gpus)}). Fix: use indices 0..{max(len(visible) - 1, 0)} "
                f"or change {VISIBLE}"
            )
        devices.append(_device(visible[index], index))
    return tuple(devices)


def visible_devices_for(devices: Sequence[Device], environ: Mapping[str, str]) -> str | None:
    """The CUDA_VISIBLE_DEVICES value that puts an engine's rank i on ``devices[i]``, or
    None when no change is needed (the devices already are ordinals 0..N-1)."""
    wanted = [d.cuda_index for d in devices]
    if wanted == list(range(len(wanted))):
        return None
    current = environ.get(VISIBLE)
    if current is None:
        return ",".join(str(i) for i in wanted)
    entries = [e.strip() for e in current.split(",") if e.strip()]
    if any(i >= len(entries) for i in wanted):
        raise PreflightError(
            f"devices {wanted} are not all visible: {VISIBLE}={current!r} "
            f"shows {len(entries)} GPU(s); fix `devices:` or {VISIBLE}"
        )
    return ",".join(entries[i] for i in wanted)


class VisibleDevices:
    """Narrows CUDA_VISIBLE_DEVICES to the experiment's devices before an engine starts
    its child processes, and puts it back after. ``value`` is what the engine sees."""

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        self.environ = environ
        self.value: str | None = environ.get(VISIBLE)
        self._saved: str | None = None
        self._changed = False

    def apply(self, devices: Sequence[Device]) -> None:
        new = visible_devices_for(devices, self.environ)
        if new is None:
            return
        self._saved = self.environ.get(VISIBLE)
        self.environ[VISIBLE] = self.value = new
        self._changed = True

    def restore(self) -> None:
        if not self._changed:
            return
        if self._saved is None:
            self.environ.pop(VISIBLE, None)
        else:
            self.environ[VISIBLE] = self._saved
        self.value, self._changed = self._saved, False


def _nvml_gpus(lib: Any) -> list[_NvmlGpu]:
    gpus = []
    for i in range(lib.nvmlDeviceGetCount()):
        handle = lib.nvmlDeviceGetHandleByIndex(i)
        gpus.append(
            _NvmlGpu(
                index=i,
                uuid=text(lib.nvmlDeviceGetUUID(handle)),
                pci_bus_id=text(lib.nvmlDeviceGetPciInfo(handle).busId),
                name=text(lib.nvmlDeviceGetName(handle)),
                memory_total_bytes=int(lib.nvmlDeviceGetMemoryInfo(handle).total),
            )
        )
    return gpus


def _device(gpu: _NvmlGpu, cuda_index: int) -> Device:
    return Device(
        cuda_index=cuda_index,
        nvml_index=gpu.index,
        uuid=gpu.uuid,
        pci_bus_id=gpu.pci_bus_id,
        name=gpu.name,
        memory_total_bytes=gpu.memory_total_bytes,
    )


def _cuda_view(gpus: list[_NvmlGpu]) -> list[_NvmlGpu]:
    """NVML GPUs in CUDA ordinal order: from libcuda if loadable, else the variable."""
    cuda = cuda_driver.query()
    if cuda is None:
        return _from_environment(gpus)
    by_uuid = {g.uuid: g for g in gpus}
    by_pci = {pci_key(g.pci_bus_id): g for g in gpus}
    view = []
    for dev in cuda:
        match = by_uuid.get(dev.uuid or "") or by_pci.get(pci_key(dev.pci_bus_id))
        if match is None:
            raise PreflightError(
                f"CUDA device {dev.ordinal} (PCI {dev.pci_bus_id}, {dev.uuid}) has no NVML "
                f"counterpart, so its energy cannot be measured. Fix: check the driver "
                f"installation (nvidia-smi must list the same GPUs)"
            )
        view.append(match)
    return view


def _from_environment(gpus: list[_NvmlGpu]) -> list[_NvmlGpu]:
    """CUDA's reading of CUDA_VISIBLE_DEVICES without libcuda: integer entries index the
    GPUs in PCI order (NVML's order; CUDA_DEVICE_ORDER=FASTEST_FIRST can only be applied
    by the driver itself), ``GPU-`` entries are unique UUID prefixes; the first invalid
    or repeated entry ends the list."""
    value = os.environ.get(VISIBLE)
    if value is None:
        return list(gpus)
    _reject_mig(value)
    view: list[_NvmlGpu] = []
    for token in (t.strip() for t in value.split(",")):
        gpu = _lookup(token, gpus)
        if gpu is None or gpu in view:
            break
        view.append(gpu)
    return view


def _lookup(token: str, gpus: list[_NvmlGpu]) -> _NvmlGpu | None:
    if token.startswith("GPU-"):
        matches = [g for g in gpus if g.uuid.startswith(token)]
        return matches[0] if len(matches) == 1 else None
    try:
        index = int(token)
    except ValueError:
        return None
    return gpus[index] if 0 <= index < len(gpus) else None


def _reject_mig(value: str | None) -> None:
    if value and any(t.strip().startswith("MIG-") for t in value.split(",")):
        raise PreflightError(
            f"{VISIBLE}={value} selects MIG instances; NVML measures power and energy "
            f"per physical GPU, so a MIG slice's energy cannot be told apart. Fix: "
            f"select whole GPUs (indices or GPU- UUIDs) in {VISIBLE}"
        )
