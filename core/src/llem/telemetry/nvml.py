"""Access to NVML through ``pynvml`` (nvidia-ml-py), imported lazily and initialised once.

Everything in llem that talks to the NVIDIA driver goes through here, so that "NVML is
missing" is one exception with one reason and one fix, and an optional query that the
driver or GPU does not support reads as None instead of an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from llem.interfaces import Unavailable

INSTALL_FIX = "pip install nvidia-ml-py (it provides the pynvml module)"
DRIVER_FIX = (
    "run on a machine with an NVIDIA GPU and its driver (libnvidia-ml.so; nvidia-smi must work)"
)

_lock = threading.Lock()
_initialised: set[int] = set()  # id() of pynvml modules nvmlInit succeeded on


class NvmlUnavailable(Unavailable):
    """NVML cannot be used here: ``reason`` says why, ``fix`` what to do about it."""


def nvml() -> ModuleType:
    """The initialised ``pynvml`` module, or NvmlUnavailable."""
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable(
            "the pynvml module (nvidia-ml-py) is not installed", INSTALL_FIX
        ) from None
    with _lock:
        if id(pynvml) not in _initialised:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise NvmlUnavailable(f"NVML could not start: {exc}", DRIVER_FIX) from None
            except OSError as exc:  # a broken libnvidia-ml
                raise NvmlUnavailable(f"NVML could not start: {exc}", DRIVER_FIX) from None
            _initialised.add(id(pynvml))
    return pynvml


def optional(function: str, *args: Any) -> Any:
    """``pynvml.<function>(*args)``, or None where the driver, the GPU or this pynvml
    version does not provide it (NOT_SUPPORTED, FUNCTION_NOT_FOUND, missing attribute,
    no permission)."""
    lib = nvml()
    call: Callable[..., Any] | None = getattr(lib, function, None)
    if call is None:
        return None
    try:
        return call(*args)
    except lib.NVMLError:
        return None


def text(value: Any) -> str:
    """NVML strings are ``str`` in current pynvml, ``bytes`` in old releases."""
    return value.decode() if isinstance(value, bytes) else str(value)


def field_value(entry: Any) -> float | None:
    """The number in one ``c_nvmlFieldValue_t``, or None when its nvmlReturn is an error."""
    if entry.nvmlReturn != 0:
        return None
    kind = entry.valueType
    value = entry.value
    return {
        0: lambda: value.dVal,
        1: lambda: value.uiVal,
        2: lambda: value.ulVal,
        3: lambda: value.ullVal,
        4: lambda: value.sllVal,
        5: lambda: value.siVal,
        6: lambda: value.usVal,
    }.get(kind, lambda: None)()


def pci_key(bus_id: str) -> tuple[int, int, int, int] | None:
    """``domain:bus:device.function`` as numbers, so NVML's 8-digit domain
    ("00000000:17:00.0") and CUDA's 4-digit one ("0000:17:00.0") compare equal."""
    try:
        domain, bus, rest = bus_id.strip().split(":")
        device, function = rest.split(".")
        return int(domain, 16), int(bus, 16), int(device, 16), int(function, 16)
    except ValueError:
        return None
