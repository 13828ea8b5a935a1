"""llem-codecarbon: the ``codecarbon`` meter and CO2 estimates for any meter's energy.

``llem --help`` imports this module to list commands, so the meter and the estimate are
imported inside the hooks; codecarbon itself only when the meter probes or a CO2
estimate is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llem.plugin import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from llem.plugin import Meter


@hookimpl
def register_meters(register: Callable[[type[Meter]], None]) -> None:
    from llem_codecarbon.meter import CodeCarbonMeter

    register(CodeCarbonMeter)


@hookimpl
def estimate_co2(energy_j: float, carbon: Any) -> tuple[float, dict] | None:
    """CO2 (kg) of ``energy_j`` from codecarbon's offline carbon-intensity data for
    ``carbon.country_iso_code`` (and ``carbon.region``); looked up online only when
    ``carbon.online`` allows it. None, with a logged reason, when no location is known."""
    from llem_codecarbon.intensity import estimate

    return estimate(energy_j, carbon)
