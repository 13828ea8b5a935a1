"""The codecarbon meter against the real codecarbon 3 tracker (CPU-only here; GPUs
through a fake NVML), and the CO2 estimate hook."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pluggy
import pytest
from llem import hookspecs
from llem.config.schema import CarbonConfig
from llem.converter import converter
from llem.errors import PluginError, PreflightError
from llem.interfaces import Device
from llem_codecarbon import intensity as llem_intensity
from llem_codecarbon.config import CodecarbonConfig
from llem_codecarbon.meter import CodeCarbonMeter

from tests.fakes.zeus_fake import fake_nvml

FRANCE = CarbonConfig(country_iso_code="FRA")


def device(gpus, cuda_index: int, nvml_index: int) -> Device:
    gpu = gpus[nvml_index]
    return Device(
        cuda_index=cuda_index,
        nvml_index=nvml_index,
        uuid=gpu.uuid,
        pci_bus_id=gpu.pci_bus_id,
        name=gpu.name,
        memory_total_bytes=gpu.memory_total,
    )


def test_plugin_registers_the_meter_and_the_co2_hook():
    import llem_codecarbon

    (entry_point,) = [ep for ep in metadata.entry_points(group="llem") if ep.name == "codecarbon"]
    assert entry_point.load() is llem_codecarbon
    registered = []
    llem_codecarbon.register_meters(register=registered.append)
    assert registered == [CodeCarbonMeter]
    assert CodeCarbonMeter.config_type is CodecarbonConfig


def test_section_structures_with_defaults_that_keep_codecarbon_quiet():
    cfg = converter.structure(
        {"measure_power_secs": 5, "tracking_mode": "process"}, CodecarbonConfig
    )
    assert cfg.measure_power_secs == 5 and cfg.tracking_mode == "process"
    assert cfg.log_level == "error"
    with pytest.raises(ValueError):
        CodecarbonConfig(measure_power_secs=0)


def test_importing_codecarbon_prints_nothing():
    code = "from llem_codecarbon.library import import_codecarbon; import_codecarbon()"
    env = {k: v for k, v in os.environ.items() if k != "CODECARBON_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_importing_codecarbon_in_a_thread_keeps_the_other_threads_stdout():
    """The meters are set up beside the backend's preflight: what the preflight prints,
    or a handler it makes while codecarbon is imported, must still reach stdout."""
    code = """
import sys, threading, time
from llem_codecarbon.library import import_codecarbon
importer = threading.Thread(target=import_codecarbon)
importer.start()
printed, grabbed = 0, None
while importer.is_alive():
    print("main", flush=True)
    printed += 1
    time.sleep(0.001)
    if sys.stdout is not sys.__stdout__:
        grabbed = sys.stdout
importer.join()
print("printed", printed, "grabbed", grabbed is not None)
if grabbed is not None:
    grabbed.write("through the stand-in\\n")
"""
    env = {k: v for k, v in os.environ.items() if k != "CODECARBON_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    printed = int(lines[lines.index(next(x for x in lines if x.startswith("printed")))].split()[1])
    assert lines.count("main") == printed > 0
    assert f"printed {printed} grabbed True" in lines
    assert lines[-1] == "through the stand-in"


def test_cpu_only_window_is_a_real_reading_with_no_file_no_network_no_noise(
    in_tmp_cwd, no_network, capfd
):
    meter = CodeCarbonMeter(carbon=FRANCE)
    assert meter.probe([]).ok
    meter.prepare([])
    capfd.readouterr()
    meter.start([])
    sum(i * i for i in range(200_000))
    reading = meter.stop()
    out, err = capfd.readouterr()
    assert "[codecarbon" not in out + err
    assert list(in_tmp_cwd.iterdir()) == []  # no emissions.csv, no lock, no cache file
    assert no_network == []
    assert reading.meter == "codecarbon" and reading.method == "estimate"
    assert reading.gpu_j is None
    assert reading.cpu_j > 0 and reading.dram_j > 0
    assert reading.co2_kg > 0
    assert reading.details["country_iso_code"] == "FRA"
    assert reading.details["intensity_g_per_kwh"] == pytest.approx(56.039, rel=1e-3)
    assert reading.details["cpu_method"].startswith(("estimate", "measured"))
    assert reading.details["codecarbon_version"].startswith("3.")
    assert any("no GPU in this experiment" in n for n in reading.notes)


def test_user_codecarbon_settings_cannot_change_the_figures_or_write_files(
    in_tmp_cwd, no_network, monkeypatch
):
    monkeypatch.setenv("CODECARBON_PUE", "2.0")
    monkeypatch.setenv("CODECARBON_SAVE_TO_FILE", "true")
    monkeypatch.setenv("CODECARBON_OUTPUT_METHODS", "csv")
    monkeypatch.setenv("CODECARBON_FORCE_CARBON_INTENSITY_G_CO2E_KWH", "999")
    monkeypatch.setenv("CODECARBON_COUNTRY_ISO_CODE", "USA")
    meter = CodeCarbonMeter(carbon=FRANCE)
    meter.start([])
    reading = meter.stop()
    assert reading.details["pue"] == 1.0
    assert reading.details["country_iso_code"] == "FRA"
    assert reading.details["intensity_g_per_kwh"] == pytest.approx(56.039, rel=1e-3)
    assert list(in_tmp_cwd.iterdir()) == []
    assert no_network == []


def test_without_a_location_energy_is_measured_and_co2_is_null_with_the_reason(in_tmp_cwd):
    meter = CodeCarbonMeter(carbon=CarbonConfig())
    meter.start([])
    reading = meter.stop()
    assert reading.cpu_j is not None
    assert reading.co2_kg is None
    assert any("carbon.country_iso_code" in n for n in reading.notes)


def test_single_gpu_energy_is_the_counter_difference_by_uuid(
    codecarbon_gpus, in_tmp_cwd, monkeypatch
):
    gpus = fake_nvml.make_gpus(2, powers=[250.0, 500.0])
    nvml = codecarbon_gpus(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # CUDA ordinal 0 is NVML device 1
    dev = device(gpus, 0, 1)
    meter = CodeCarbonMeter(carbon=FRANCE)
    assert meter.probe([dev]).ok
    meter.start([dev])
    nvml.advance(20.0)
    reading = meter.stop()
    assert reading.gpu_j == {gpus[1].uuid: pytest.approx(10_000.0, rel=1e-9)}
    assert reading.details["tracked_gpus"] == {gpus[1].uuid: 1}


def test_several_gpus_give_a_total_in_details_not_invented_per_device_figures(
    codecarbon_gpus, in_tmp_cwd
):
    gpus = fake_nvml.make_gpus(3, powers=[100.0, 200.0, 400.0])
    nvml = codecarbon_gpus(gpus)
    devices = [device(gpus, 0, 0), device(gpus, 1, 2)]
    meter = CodeCarbonMeter(carbon=FRANCE)
    meter.start(devices)
    nvml.advance(10.0)
    reading = meter.stop()
    assert reading.gpu_j is None
    assert reading.details["gpu_total_j"] == pytest.approx(5000.0, rel=1e-9)  # GPUs 0 and 2
    assert any("one total for the 2 GPUs" in n for n in reading.notes)


def test_a_gpu_counter_that_did_not_advance_is_unknown_not_zero(codecarbon_gpus, in_tmp_cwd):
    gpus = fake_nvml.make_gpus(1)
    codecarbon_gpus(gpus)
    meter = CodeCarbonMeter(carbon=FRANCE)
    meter.start([device(gpus, 0, 0)])
    reading = meter.stop()
    assert reading.gpu_j is None
    assert any("did not advance" in n for n in reading.notes)


def test_gpu_codecarbon_numbers_differently_is_unavailable(codecarbon_gpus):
    gpus = fake_nvml.make_gpus(2)
    codecarbon_gpus(gpus)
    wrong = Device(
        cuda_index=0,
        nvml_index=0,
        uuid=gpus[1].uuid,
        pci_bus_id="x",
        name="x",
        memory_total_bytes=1,
    )
    availability = CodeCarbonMeter(carbon=FRANCE).probe([wrong])
    assert not availability.ok and gpus[1].uuid in availability.reason
    with pytest.raises(PreflightError):
        CodeCarbonMeter(carbon=FRANCE).start([wrong])


def test_gpus_without_nvidia_smi_are_unavailable_rather_than_zero(codecarbon_gpus, monkeypatch):
    from codecarbon.core import gpu as cc_gpu

    gpus = fake_nvml.make_gpus(1)
    codecarbon_gpus(gpus)
    monkeypatch.setattr(cc_gpu, "is_nvidia_system", lambda: False)
    availability = CodeCarbonMeter(carbon=FRANCE).probe([device(gpus, 0, 0)])
    assert not availability.ok and "nvidia-smi" in availability.reason


def test_stop_without_start_is_an_error():
    with pytest.raises(PluginError, match="without an open window"):
        CodeCarbonMeter(carbon=FRANCE).stop()


def test_online_location_is_used_only_when_allowed_and_its_fallback_is_refused(
    monkeypatch, in_tmp_cwd
):
    from codecarbon.external.geography import CloudMetadata, GeoMetadata

    calls = []

    def located(cls, url):  # type: ignore[no-untyped-def]
        calls.append(url)
        return GeoMetadata(
            country_iso_code="FRA",
            country_name="France",
            region="ile-de-france",
            latitude=48.8,
            longitude=2.3,
        )

    monkeypatch.setattr(GeoMetadata, "from_geo_js", classmethod(located))
    monkeypatch.setattr(CloudMetadata, "from_utils", classmethod(lambda cls: cls(None, None)))
    llem_intensity._lookup.cache_clear()
    co2, details = llem_intensity.estimate(3.6e6, CarbonConfig(online=True))
    assert details["location"] == "online" and details["country"] == "FRA"
    assert co2 == pytest.approx(0.056039, rel=1e-3)
    meter = CodeCarbonMeter(carbon=CarbonConfig(online=True))
    meter.start([])
    reading = meter.stop()
    assert reading.details["tracker"] == "online"
    assert reading.co2_kg is not None and reading.details["country_iso_code"] == "FRA"

    def fallback(cls, url):  # type: ignore[no-untyped-def]
        return GeoMetadata(
            country_iso_code="CAN",
            country_name="Canada",
            region="Quebec",
            latitude=46.8,
            longitude=-71.2,
            country_2letter_iso_code="CA",
        )

    monkeypatch.setattr(GeoMetadata, "from_geo_js", classmethod(fallback))
    llem_intensity._lookup.cache_clear()
    assert llem_intensity.estimate(3.6e6, CarbonConfig(online=True)) is None
    llem_intensity._lookup.cache_clear()


def _hook():  # type: ignore[no-untyped-def]
    import llem_codecarbon

    pm = pluggy.PluginManager("llem")
    pm.add_hookspecs(hookspecs)
    pm.register(llem_codecarbon, name="codecarbon")
    return pm.hook.estimate_co2


def test_estimate_co2_hook_uses_codecarbons_offline_country_data(no_network):
    co2, details = _hook()(energy_j=3.6e6, carbon=FRANCE)  # 1 kWh
    assert co2 == pytest.approx(0.056039, rel=1e-6)
    assert details["intensity_g_per_kwh"] == pytest.approx(56.039, rel=1e-6)
    assert details["country"] == "FRA" and details["method"] == "estimate"
    assert "codecarbon" in details["source"] and "France" in details["source"]
    assert no_network == []


def test_estimate_co2_uses_regional_data_where_codecarbon_has_it(no_network):
    _, california = _hook()(energy_j=3.6e6, carbon=CarbonConfig("USA", region="California"))
    _, usa = _hook()(energy_j=3.6e6, carbon=CarbonConfig("USA"))
    assert "regional data for 'california'" in california["source"]
    assert california["intensity_g_per_kwh"] != usa["intensity_g_per_kwh"]
    _, unknown = _hook()(energy_j=3.6e6, carbon=CarbonConfig("USA", region="Atlantis"))
    assert unknown["intensity_g_per_kwh"] == usa["intensity_g_per_kwh"]
    assert "no regional data for 'atlantis'" in unknown["source"]


def test_estimate_co2_is_none_without_a_location_and_says_why(monkeypatch):
    reasons = []
    monkeypatch.setattr(llem_intensity, "_reported", set())
    monkeypatch.setattr(
        llem_intensity.log, "warning", lambda event, **kw: reasons.append(kw["reason"])
    )
    assert _hook()(energy_j=1000.0, carbon=CarbonConfig()) is None
    assert reasons and "carbon.country_iso_code" in reasons[0]


def test_a_failing_lookup_returns_none_instead_of_breaking_the_run(monkeypatch):
    def broken(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("data file missing")

    monkeypatch.setattr(llem_intensity, "_lookup", broken)
    monkeypatch.setattr(llem_intensity, "_reported", set())
    assert _hook()(energy_j=1.0, carbon=FRANCE) is None


def test_unknown_country_code_falls_back_to_the_world_average_labelled():
    _, details = _hook()(energy_j=3.6e6, carbon=CarbonConfig("XYZ"))
    assert "world average" in details["source"]


def test_meter_co2_and_hook_agree_on_intensity(in_tmp_cwd):
    meter = CodeCarbonMeter(carbon=FRANCE)
    meter.start([])
    reading = meter.stop()
    _, details = _hook()(energy_j=1.0, carbon=FRANCE)
    assert reading.details["intensity_g_per_kwh"] == pytest.approx(
        details["intensity_g_per_kwh"], rel=1e-6
    )
