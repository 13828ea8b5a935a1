"""Which meters measure the window: the primary one and the cross-checks.

- ``energy.meter: auto`` takes the first meter whose probe succeeds: the first-party
  ones in the order nvml > zeus (hardware energy counters) > codecarbon (an estimate),
  then third-party meters by name; a meter is first-party when the distribution that
  ships the name registered it. None succeeding is not an error: energy is null and a
  warning says why for each candidate. The result's ``energy.meter_choice`` says which
  meter was chosen and why (and why each one before it was passed over).
- An explicit meter that is missing or cannot measure here is a PreflightError with the
  reason and the fix: a user who asked for it must not get another one silently.
- ``energy.meter: null`` turns energy off (no warning).
- ``energy.cross_check`` meters run over the same window; each must be available.

Meters are built with their config section (``cfg.sections[name]``); a meter that sets
``takes_carbon`` also receives the experiment's CarbonConfig (see ``Meter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llem.config.schema import CarbonConfig, EnergyConfig
from llem.errors import PluginError, PreflightError
from llem.interfaces import Device, Meter
from llem.results.schema import MeasurementWarning

# First-party meters in auto's order of preference, with the distribution that ships each.
AUTO_ORDER = {"nvml": "llem-core", "zeus": "llem-zeus", "codecarbon": "llem-codecarbon"}


def choose_meters(
    energy_cfg: EnergyConfig,
    registry: Any,
    devices: Sequence[Device],
    sections: Mapping[str, Any] | None = None,
    carbon: CarbonConfig | None = None,
) -> tuple[Meter | None, list[Meter], list[MeasurementWarning]]:
    """(primary or None, cross-check meters, warnings); see the module docstring."""
    sections = sections or {}
    warnings: list[MeasurementWarning] = []
    if energy_cfg.meter is None:
        if energy_cfg.cross_check:
            warnings.append(
                MeasurementWarning(
                    "cross_check_ignored",
                    f"energy.cross_check {list(energy_cfg.cross_check)} was not run because "
                    f"energy.meter is null (energy off)",
                    "set energy.meter (e.g. auto) or remove energy.cross_check",
                )
            )
        return None, [], warnings
    if energy_cfg.meter == "auto":
        primary, why_not = _auto(registry, devices, sections, carbon)
        if primary is None:
            warnings.append(
                MeasurementWarning(
                    "no_meter",
                    "no energy meter can measure here: " + "; ".join(why_not),
                    "run on an NVIDIA GPU (the built-in nvml meter), or install a CPU meter: "
                    "pip install llem-zeus (RAPL) or llem-codecarbon",
                )
            )
        else:
            primary.chosen_because = _auto_reason(primary, why_not)
    else:
        primary = _explicit(energy_cfg.meter, registry, devices, sections, carbon, "meter")
        primary.chosen_because = f"energy.meter: {primary.name}"
    cross = []
    for name in energy_cfg.cross_check:
        if primary is not None and name == primary.name:
            warnings.append(
                MeasurementWarning(
                    "cross_check_is_primary",
                    f"energy.cross_check names {name!r}, the primary meter; not run twice",
                    f"remove {name!r} from energy.cross_check",
                )
            )
            continue
        cross.append(_explicit(name, registry, devices, sections, carbon, "cross_check"))
    return primary, cross, warnings


def make_meter(cls: type[Any], sections: Mapping[str, Any], carbon: CarbonConfig | None) -> Meter:
    section = sections.get(getattr(cls, "name", ""))
    return cls(section, carbon=carbon) if cls.takes_carbon else cls(section)


def _candidates(registry: Any) -> list[str]:
    """First-party meters in AUTO_ORDER, then every other meter by name."""
    meters = registry.meters
    first = [n for n, dist in AUTO_ORDER.items() if n in meters and _ships(meters[n], dist)]
    return first + sorted(n for n in meters if n not in first)


def _ships(cls: type, distribution: str) -> bool:
    return getattr(cls, "distribution", None) == distribution


def _auto_reason(meter: Meter, why_not: Sequence[str]) -> str:
    cls = type(meter)
    party = "first-party" if _ships(cls, AUTO_ORDER.get(meter.name, "")) else "third-party"
    reason = (
        f"energy.meter: auto chose {meter.name} ({party}, {cls.distribution}): the first "
        f"that can measure here in auto's order ({', '.join(AUTO_ORDER)}, then third-party "
        f"meters by name)"
    )
    return reason + (f"; passed over: {'; '.join(why_not)}" if why_not else "")


def _auto(
    registry: Any,
    devices: Sequence[Device],
    sections: Mapping[str, Any],
    carbon: CarbonConfig | None,
) -> tuple[Meter | None, list[str]]:
    why_not = []
    for name in _candidates(registry):
        cls = registry.meters[name]
        missing = cls.missing_requirement()
        if missing:
            why_not.append(f"{name}: {missing}")
            continue
        try:
            meter = make_meter(cls, sections, carbon)
            availability = meter.probe(devices)
        except Exception as exc:  # a broken meter is skipped in auto mode
            why_not.append(f"{name}: probe failed: {type(exc).__name__}: {exc}")
            continue
        if availability.ok:
            return meter, why_not
        why_not.append(f"{name}: {availability.reason}")
    if not why_not:
        why_not.append("no meter plugin is registered")
    return None, why_not


def _explicit(
    name: str,
    registry: Any,
    devices: Sequence[Device],
    sections: Mapping[str, Any],
    carbon: CarbonConfig | None,
    key: str,
) -> Meter:
    label = f"energy.{key} {name!r}"
    try:
        cls = registry.get("meter", name)
    except PluginError as exc:
        raise PreflightError(f"{label}: {exc}") from None
    missing = cls.missing_requirement()
    if missing:
        raise PreflightError(f"{label} cannot run: {missing}")
    meter = make_meter(cls, sections, carbon)
    availability = meter.probe(devices)
    if not availability.ok:
        fix = availability.fix or "choose another meter (energy.meter: auto picks one that works)"
        raise PreflightError(f"{label} cannot measure here: {availability.reason}. Fix: {fix}")
    return meter
