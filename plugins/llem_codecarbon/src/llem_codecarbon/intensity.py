"""Carbon intensity from codecarbon's bundled data: the CO2 of any meter's energy.

The figure is codecarbon's own: ``codecarbon.core.emissions.Emissions`` over its offline
tables (country energy mix, US/Canadian/Chinese/Nordic regional data), exactly the code a
codecarbon ``OfflineEmissionsTracker`` uses, called with no Electricity Maps token so that
nothing goes over the network. Only with ``carbon.online`` and no country is the location
looked up online (codecarbon's geojs/ipinfo lookup). Always an estimate, labelled so.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import structlog

from llem_codecarbon.library import codecarbon_version, import_codecarbon

log = structlog.get_logger()
JOULES_PER_KWH = 3.6e6
REGIONAL_COUNTRIES = {"USA", "CAN", "CHN", "SWE", "NOR", "FIN"}
# What codecarbon's GeoMetadata.from_geo_js returns when both lookups fail (it logs a
# warning and carries on as if the machine were in Quebec).
FALLBACK_LOCATION = ("CAN", "quebec", 46.8, -71.2)
NO_LOCATION = (
    "co2_kg is null: no location for a carbon intensity; set carbon.country_iso_code "
    "(ISO 3166-1 alpha-3, e.g. FRA) for codecarbon's offline data, or carbon.online: true "
    "to let codecarbon look the location up"
)
_reported: set[str] = set()


class LocationUnknown(Exception):
    """No usable location, so no carbon intensity."""


@attrs.frozen
class Intensity:
    g_per_kwh: float
    source: str
    country_iso_code: str
    country_name: str | None
    region: str | None
    located: str  # configured | online

    def details(self) -> dict[str, Any]:
        return {
            "intensity_g_per_kwh": self.g_per_kwh,
            "source": self.source,
            "country": self.country_iso_code,
            "country_name": self.country_name,
            "region": self.region,
            "location": self.located,
            "method": "estimate",
        }


def estimate(energy_j: float, carbon: Any) -> tuple[float, dict] | None:
    """``(co2_kg, details)`` or None (the reason is logged once per process)."""
    try:
        intensity = intensity_for(carbon)
    except LocationUnknown as exc:
        _report(str(exc))
        return None
    except Exception as exc:  # a CO2 estimate must never cost the measured result
        _report(
            f"co2_kg is null: codecarbon's carbon-intensity lookup failed: "
            f"{type(exc).__name__}: {exc}"
        )
        return None
    return energy_j / JOULES_PER_KWH * intensity.g_per_kwh / 1000.0, intensity.details()


def intensity_for(carbon: Any) -> Intensity:
    """The intensity for a core ``CarbonConfig``, or LocationUnknown saying why not."""
    if carbon is None:
        raise LocationUnknown("co2_kg is null: the experiment passed no carbon settings")
    country = carbon.country_iso_code
    if not country and not carbon.online:
        raise LocationUnknown(NO_LOCATION)
    return _lookup(country.upper() if country else None, carbon.region, bool(carbon.online))


@functools.lru_cache(maxsize=32)
def _lookup(country: str | None, region: str | None, online: bool) -> Intensity:
    import_codecarbon()
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    data = DataSource()
    if country:
        geo, located = GeoMetadata(country_iso_code=country, region=region), "configured"
    else:
        geo, located = locate_online(data), "online"
    return _intensity(data, geo, located)


def locate_online(data: Any) -> Any:
    """codecarbon's online lookup; its silent fallback location counts as failure."""
    from codecarbon.external.geography import GeoMetadata

    geo = GeoMetadata.from_geo_js(data.geo_js_url)
    signature = (geo.country_iso_code, geo.region, geo.latitude, geo.longitude)
    if signature == FALLBACK_LOCATION or not geo.country_iso_code:
        raise LocationUnknown(
            "co2_kg is null: codecarbon could not locate this machine online (geojs and "
            "ipinfo unreachable); set carbon.country_iso_code instead"
        )
    return geo


def _intensity(data: Any, geo: Any, located: str) -> Intensity:
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy

    emissions = Emissions(data)  # no Electricity Maps token: offline tables only
    one_kwh = Energy.from_energy(kWh=1.0)
    version = codecarbon_version()
    code = geo.country_iso_code
    entry = data.get_global_energy_mix_data().get(code)
    name = entry["country_name"] if entry else geo.country_name
    if entry is None:
        world = data.get_carbon_intensity_per_source_data()["world_average"]
        _report(
            f"carbon.country_iso_code {code!r} is not in codecarbon's data: the world "
            "average intensity is used; check the ISO 3166-1 alpha-3 code"
        )
        return Intensity(
            float(world),
            f"codecarbon {version} world average (it has no data for country {code!r})",
            code,
            name,
            geo.region,
            located,
        )
    country_g = emissions.get_country_emissions(one_kwh, geo) * 1000.0
    year = entry.get("year")
    source = f"codecarbon {version} energy mix of {name}" + (f" ({year})" if year else "")
    if geo.region and code in REGIONAL_COUNTRIES:
        try:
            regional_g = emissions.get_region_emissions(one_kwh, geo) * 1000.0
        except Exception:
            regional_g = None
        if regional_g is not None and regional_g != country_g:
            return Intensity(
                regional_g,
                f"codecarbon {version} regional data for {geo.region!r} ({name})",
                code,
                name,
                geo.region,
                located,
            )
    if geo.region:
        source += f"; no regional data for {geo.region!r}, country value used"
    return Intensity(country_g, source, code, name, geo.region, located)


def _report(reason: str) -> None:
    if reason not in _reported:
        _reported.add(reason)
        log.warning("co2.not_estimated", reason=reason)
