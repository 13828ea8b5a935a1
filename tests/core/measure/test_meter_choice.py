"""choose_meters against fake meter classes (the zeus and codecarbon plugins are
another stream's; only the names matter here)."""

from __future__ import annotations

import pytest
from llem import Availability, EnergyReading, Meter
from llem.config.schema import CarbonConfig, EnergyConfig
from llem.errors import PluginError, PreflightError
from llem.measure.meters import AUTO_ORDER, choose_meters
from llem.plugins import Registry, missing_component_message


def meter_class(name, ok=True, missing=None, reason="nope", dist=None):  # type: ignore[no-untyped-def]
    """A meter named ``name``; shipped by the first-party distribution of that name
    unless ``dist`` says otherwise (the plugin manager sets it from the entry point)."""

    class FakeMeter(Meter):
        def probe(self, devices):  # type: ignore[no-untyped-def]
            return Availability(ok, "" if ok else reason, "" if ok else "do X")

        def start(self, devices):  # type: ignore[no-untyped-def]
            pass

        def stop(self):  # type: ignore[no-untyped-def]
            return EnergyReading(meter=name, method="fake", gpu_j={})

        @classmethod
        def missing_requirement(cls):  # type: ignore[no-untyped-def]
            return missing

    FakeMeter.name = name
    FakeMeter.distribution = dist or AUTO_ORDER.get(name, "llem-thirdparty")
    return FakeMeter


class StrictRegistry(Registry):
    def get(self, kind, name):  # type: ignore[no-untyped-def]
        if name not in self.meters:
            raise PluginError(missing_component_message(kind, name, sorted(self.meters)))
        return self.meters[name]


def registry(*classes):  # type: ignore[no-untyped-def]
    return StrictRegistry(meters={c.name: c for c in classes})


def test_auto_prefers_nvml_then_zeus_then_codecarbon_then_third_party_meters():
    reg = registry(
        meter_class("aaa"), meter_class("codecarbon"), meter_class("nvml"), meter_class("zeus")
    )
    primary, cross, warnings = choose_meters(EnergyConfig(), reg, [])
    assert primary.name == "nvml" and cross == [] and warnings == []
    reg = registry(
        meter_class("aaa"),
        meter_class("codecarbon"),
        meter_class("nvml", ok=False),
        meter_class("zeus"),
    )
    assert choose_meters(EnergyConfig(), reg, [])[0].name == "zeus"
    reg = registry(meter_class("aaa"), meter_class("codecarbon"), meter_class("nvml", ok=False))
    assert choose_meters(EnergyConfig(), reg, [])[0].name == "codecarbon"
    reg = registry(meter_class("aaa"), meter_class("zeus", missing="pip install llem-zeus"))
    assert choose_meters(EnergyConfig(), reg, [])[0].name == "aaa"


def test_auto_records_which_meter_it_chose_and_why():
    reg = registry(
        meter_class("nvml", ok=False, reason="no NVIDIA GPU in this experiment"),
        meter_class("zeus"),
        meter_class("fake", dist="llem-fake-meter"),
    )
    primary, _, _ = choose_meters(EnergyConfig(), reg, [])
    assert primary.chosen_because.startswith(
        "energy.meter: auto chose zeus (first-party, llem-zeus): the first that can measure here"
    )
    assert "passed over: nvml: no NVIDIA GPU in this experiment" in primary.chosen_because
    explicit, _, _ = choose_meters(EnergyConfig(meter="fake"), reg, [])
    assert explicit.chosen_because == "energy.meter: fake"


def test_a_third_party_meter_is_chosen_only_after_every_first_party_one_and_says_so():
    reg = registry(
        meter_class("aaa", dist="llem-fake-meter"),
        meter_class("nvml", ok=False, reason="no NVIDIA GPU"),
        meter_class("codecarbon", ok=False, reason="codecarbon is not installed"),
    )
    primary, _, _ = choose_meters(EnergyConfig(), reg, [])
    assert primary.name == "aaa"
    assert "auto chose aaa (third-party, llem-fake-meter)" in primary.chosen_because
    assert "nvml: no NVIDIA GPU; codecarbon: codecarbon is not installed" in primary.chosen_because


def test_a_first_party_name_registered_by_another_distribution_is_not_preferred():
    reg = registry(meter_class("aaa"), meter_class("zeus", dist="zeus-impostor"))
    primary, _, _ = choose_meters(EnergyConfig(), reg, [])
    assert primary.name == "aaa"  # both third-party: by name


def test_auto_with_nothing_usable_is_a_warning_listing_each_reason():
    reg = registry(
        meter_class("nvml", ok=False, reason="no NVIDIA GPU"),
        meter_class("zeus", missing="zeus is not installed"),
    )
    primary, _, warnings = choose_meters(EnergyConfig(), reg, [])
    assert primary is None
    assert warnings[0].code == "no_meter"
    assert "nvml: no NVIDIA GPU" in warnings[0].message
    assert "zeus: zeus is not installed" in warnings[0].message and warnings[0].fix


def test_explicit_unavailable_meter_is_a_preflight_error_with_reason_and_fix():
    reg = registry(meter_class("nvml", ok=False, reason="no NVIDIA GPU"), meter_class("zeus"))
    with pytest.raises(PreflightError, match="energy.meter 'nvml'.*no NVIDIA GPU.*Fix: do X"):
        choose_meters(EnergyConfig(meter="nvml"), reg, [])


def test_explicit_uninstalled_meter_names_the_distribution():
    with pytest.raises(PreflightError, match="pip install llem-zeus"):
        choose_meters(EnergyConfig(meter="zeus"), registry(meter_class("nvml")), [])
    with pytest.raises(PreflightError, match="cannot run: needs foo"):
        choose_meters(EnergyConfig(meter="x"), registry(meter_class("x", missing="needs foo")), [])


def test_null_meter_is_off_without_warning():
    assert choose_meters(EnergyConfig(meter=None), registry(meter_class("nvml")), []) == (
        None,
        [],
        [],
    )


def test_cross_checks_run_with_the_primary_and_must_be_available():
    reg = registry(meter_class("nvml"), meter_class("zeus"), meter_class("codecarbon", ok=False))
    primary, cross, _ = choose_meters(EnergyConfig(meter="nvml", cross_check=("zeus",)), reg, [])
    assert primary.name == "nvml" and [m.name for m in cross] == ["zeus"]
    with pytest.raises(PreflightError, match="energy.cross_check 'codecarbon'"):
        choose_meters(EnergyConfig(meter="nvml", cross_check=("codecarbon",)), reg, [])
    _, cross, warnings = choose_meters(EnergyConfig(meter="nvml", cross_check=("nvml",)), reg, [])
    assert cross == [] and warnings[0].code == "cross_check_is_primary"


def test_meters_get_their_section_and_the_carbon_config_if_they_take_it():
    class Carbonated(meter_class("cc")):  # type: ignore[misc]
        takes_carbon = True

        def __init__(self, section=None, carbon=None):  # type: ignore[no-untyped-def]
            super().__init__(section)
            self.carbon = carbon

    class SectionOnly(meter_class("plain")):  # type: ignore[misc]
        def __init__(self, section=None):  # type: ignore[no-untyped-def]
            super().__init__(section)

    carbon = CarbonConfig(country_iso_code="FRA")
    primary, cross, _ = choose_meters(
        EnergyConfig(meter="cc", cross_check=("plain",)),
        registry(Carbonated, SectionOnly),
        [],
        sections={"cc": "my-section", "plain": "its-section"},
        carbon=carbon,
    )
    assert primary.section == "my-section" and primary.carbon is carbon
    assert cross[0].section == "its-section"
