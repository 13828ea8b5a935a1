"""The zeus meter against the real Zeus 0.16 code path, with a fake NVML / RAPL under it."""

from __future__ import annotations

import dataclasses
from importlib import metadata

import cattrs
import pytest
from llem.converter import converter
from llem.errors import PluginError, PreflightError
from llem.interfaces import Device
from llem_zeus import identity as zeus_identity
from llem_zeus import rapl as llem_rapl
from llem_zeus.config import ZeusConfig
from llem_zeus.meter import ZeusMeter

from tests.fakes.zeus_fake import fake_nvml


def device(gpus, cuda_index: int, nvml_index: int) -> Device:
    """What llem's resolve_devices yields: a CUDA ordinal matched to NVML by UUID."""
    gpu = gpus[nvml_index]
    return Device(
        cuda_index=cuda_index,
        nvml_index=nvml_index,
        uuid=gpu.uuid,
        pci_bus_id=gpu.pci_bus_id,
        name=gpu.name,
        memory_total_bytes=gpu.memory_total,
    )


def test_plugin_registers_the_zeus_meter_with_its_section():
    import llem_zeus

    (entry_point,) = [ep for ep in metadata.entry_points(group="llem") if ep.name == "zeus"]
    assert entry_point.load() is llem_zeus
    registered = []
    llem_zeus.register_meters(register=registered.append)
    assert registered == [ZeusMeter]
    assert ZeusMeter.config_type is ZeusConfig
    from llem.plugins import load_registry

    assert load_registry(None).meters["zeus"].distribution == "llem-zeus"  # from the entry point


def test_missing_requirement_is_none_when_zeus_is_installed_and_names_the_fix_otherwise(
    monkeypatch,
):
    assert ZeusMeter.missing_requirement() is None
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert "pip install llem-zeus" in ZeusMeter.missing_requirement()


def test_section_structures_from_config_data_and_rejects_unknown_keys():
    cfg = converter.structure({"approx_instant_energy": True, "cpu_indices": [0, 1]}, ZeusConfig)
    assert cfg == ZeusConfig(approx_instant_energy=True, measure_cpu=True, cpu_indices=(0, 1))
    with pytest.raises(Exception) as excinfo:
        converter.structure({"approx_instant_energi": True}, ZeusConfig)
    assert "approx_instant_energi" in str(cattrs.transform_error(excinfo.value))
    with pytest.raises(ValueError, match="cpu_indices"):
        ZeusConfig(cpu_indices=(-1,))


def test_window_energy_per_uuid_is_the_counter_difference(zeus_machine):
    gpus = fake_nvml.make_gpus(2, powers=[300.0, 650.0])
    nvml = zeus_machine(gpus)
    devices = [device(gpus, 0, 0), device(gpus, 1, 1)]
    meter = ZeusMeter()
    assert meter.probe(devices).ok
    meter.start(devices)
    nvml.advance(12.5)
    reading = meter.stop()
    assert reading.meter == "zeus"
    assert reading.method == "energy_counter"
    assert reading.gpu_j == {
        gpus[0].uuid: pytest.approx(3750.0),
        gpus[1].uuid: pytest.approx(8125.0),
    }
    assert reading.details["zeus_gpu_index"] == {gpus[0].uuid: 0, gpus[1].uuid: 1}


def test_no_rapl_gives_null_cpu_and_dram_with_the_reason_never_zero(zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    nvml.advance(1.0)
    reading = meter.stop()
    assert reading.cpu_j is None and reading.dram_j is None
    assert any("no RAPL interface" in n and "CPU and DRAM" in n for n in reading.notes)


def test_cuda_visible_devices_permutation_measures_the_uuids_llem_resolved(
    zeus_machine, monkeypatch
):
    gpus = fake_nvml.make_gpus(4)
    nvml = zeus_machine(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    # CUDA ordinal 0 is NVML device 2, ordinal 1 is NVML device 0.
    devices = [device(gpus, 0, 2), device(gpus, 1, 0)]
    meter = ZeusMeter()
    assert meter.probe(devices).ok
    meter.start(devices)
    monitor = meter._monitor
    nvml.advance(10.0)
    reading = meter.stop()
    # Zeus's own objects at the indices it was given hold the UUIDs llem resolved...
    zeus_gpus = monitor.gpus
    assert [zeus_identity.zeus_gpu_uuids(zeus_gpus)[i] for i in monitor.gpu_indices] == [
        gpus[2].uuid,
        gpus[0].uuid,
    ]
    # ...and the energy of each UUID is that GPU's (powers 300 W and 100 W).
    assert reading.gpu_j == {
        gpus[2].uuid: pytest.approx(3000.0),
        gpus[0].uuid: pytest.approx(1000.0),
    }
    assert gpus[1].reads == 0 and gpus[3].reads == 0


def test_device_is_found_by_uuid_even_when_cuda_and_zeus_indices_differ(zeus_machine, monkeypatch):
    gpus = fake_nvml.make_gpus(4)
    nvml = zeus_machine(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    # CUDA (fastest-first order) calls NVML device 0 its ordinal 0; Zeus calls it index 1.
    dev = device(gpus, 0, 0)
    meter = ZeusMeter()
    meter.start([dev])
    nvml.advance(2.0)
    reading = meter.stop()
    assert reading.details["zeus_gpu_index"] == {gpus[0].uuid: 1}
    assert reading.gpu_j == {gpus[0].uuid: pytest.approx(200.0)}


def test_device_zeus_cannot_see_is_unavailable_with_the_device_order_fix(zeus_machine, monkeypatch):
    gpus = fake_nvml.make_gpus(4)
    zeus_machine(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    hidden = device(gpus, 0, 3)
    availability = ZeusMeter().probe([hidden])
    assert not availability.ok
    assert gpus[3].uuid in availability.reason
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in availability.fix
    with pytest.raises(PreflightError, match="CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        ZeusMeter().start([hidden])


def test_uuid_style_cuda_visible_devices_is_unavailable_not_a_crash(zeus_machine, monkeypatch):
    gpus = fake_nvml.make_gpus(2)
    zeus_machine(gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpus[1].uuid)
    availability = ZeusMeter().probe([device(gpus, 0, 1)])
    assert not availability.ok
    assert "integer" in availability.reason


def test_readback_disagreement_stops_the_run(zeus_machine, monkeypatch):
    gpus = fake_nvml.make_gpus(2)
    zeus_machine(gpus)
    answers = iter([[gpus[0].uuid, gpus[1].uuid], [gpus[1].uuid, gpus[0].uuid]])
    monkeypatch.setattr("llem_zeus.meter.zeus_gpu_uuids", lambda _gpus: next(answers))
    with pytest.raises(PreflightError, match="measures GPU"):
        ZeusMeter().start([device(gpus, 0, 0)])


def test_zeus_on_this_machine_without_nvml_is_unavailable_with_nvmls_own_reason(
    zeus_machine, monkeypatch
):
    """The real pynvml and libnvidia-ml lookup, no fake: what a CPU-only CI machine sees."""
    import zeus.device.gpu as zeus_gpu
    import zeus.device.gpu.nvidia as zeus_nvidia

    pynvml = fake_nvml.real_pynvml()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pytest.skip("this machine has a working NVML")
    monkeypatch.setattr(zeus_nvidia, "pynvml", pynvml)
    monkeypatch.setattr(zeus_gpu, "_gpus", None)
    zeus_nvidia.nvml_is_available.cache_clear()
    gpus = fake_nvml.make_gpus(1)
    availability = ZeusMeter().probe([device(gpus, 0, 0)])
    assert not availability.ok
    assert "NVML" in availability.reason and "Shared Library Not Found" in availability.reason
    assert "NVIDIA driver" in availability.fix


def test_zeus_without_nvml_is_unavailable_with_the_reason(zeus_machine):
    zeus_machine(fake_nvml.make_gpus(1), available=False)
    gpus = fake_nvml.make_gpus(1)
    availability = ZeusMeter().probe([device(gpus, 0, 0)])
    assert not availability.ok
    assert "NVML" in availability.reason
    assert "NVIDIA driver" in availability.fix
    with pytest.raises(PreflightError, match="NVML"):
        ZeusMeter().start([device(gpus, 0, 0)])


def test_window_shorter_than_the_counter_period_is_unknown_not_zero(zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    zeus_machine(gpus)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    reading = meter.stop()  # counter did not advance
    assert reading.gpu_j is None
    assert any("did not advance" in n for n in reading.notes)


def test_approx_instant_energy_replaces_a_stuck_counter_by_power_times_time(zeus_machine):
    gpus = fake_nvml.make_gpus(1, powers=[400.0])
    zeus_machine(gpus)
    meter = ZeusMeter(ZeusConfig(approx_instant_energy=True))
    meter.start([device(gpus, 0, 0)])
    reading = meter.stop()
    (joules,) = reading.gpu_j.values()
    assert joules > 0
    assert joules == pytest.approx(400.0 * reading.details["window_s"], rel=0.5, abs=0.5)
    assert any("approx_instant_energy is on" in n for n in reading.notes)


def test_rapl_package_and_dram_energy_are_summed(rapl_tree, zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    tree = rapl_tree(packages=2, dram=True)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    nvml.advance(1.0)
    tree.add(0, cpu_uj=30_000_000, dram_uj=4_000_000)
    tree.add(1, cpu_uj=20_000_000, dram_uj=1_000_000)
    reading = meter.stop()
    assert reading.cpu_j == pytest.approx(50.0)
    assert reading.dram_j == pytest.approx(5.0)
    assert reading.details["cpu_j_by_package"] == {
        "0": pytest.approx(30.0),
        "1": pytest.approx(20.0),
    }
    assert not [n for n in reading.notes if "CPU" in n or "DRAM" in n]


def test_zeus_rapl_pollers_are_stopped_when_the_window_closes(rapl_tree, zeus_machine):
    """Zeus's non-daemon RAPL pollers would keep a multiprocessing worker from exiting."""
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    tree = rapl_tree(packages=1, dram=True, real_trackers=True)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    cpu = meter._monitor.cpus.cpus[0]
    pollers = [cpu.rapl_file.wraparound_tracker.process, cpu.dram.wraparound_tracker.process]
    assert all(p.is_alive() for p in pollers)
    nvml.advance(1.0)
    tree.add(0, cpu_uj=3_000_000, dram_uj=1_000_000)
    reading = meter.stop()
    assert reading.cpu_j == pytest.approx(3.0) and reading.dram_j == pytest.approx(1.0)
    assert not any(p.is_alive() for p in pollers)
    assert cpu.rapl_file.wraparound_tracker.process is None


def test_rapl_without_dram_domain_gives_null_dram_with_reason(rapl_tree, zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    zeus_machine(gpus)
    tree = rapl_tree(packages=1, dram=False)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    tree.add(0, cpu_uj=7_000_000)
    reading = meter.stop()
    assert reading.cpu_j == pytest.approx(7.0)
    assert reading.dram_j is None
    assert any("no DRAM domain" in n for n in reading.notes)


def test_unreadable_rapl_gives_null_cpu_with_the_chmod_fix(rapl_tree, zeus_machine, monkeypatch):
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    rapl_tree()

    def denied(path):  # tests run as root, where chmod 000 would still read
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(llem_rapl, "read_counter", denied)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    nvml.advance(1.0)
    reading = meter.stop()
    assert reading.gpu_j  # GPU energy still measured
    assert reading.cpu_j is None and reading.dram_j is None
    assert any("sudo chmod -R a+r /sys/class/powercap/intel-rapl" in n for n in reading.notes)


def test_one_unreadable_rapl_subzone_is_reported_like_an_unreadable_package(
    rapl_tree, zeus_machine, monkeypatch
):
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    rapl_tree(packages=1, dram=True)
    real_read = llem_rapl.read_counter

    def dram_denied(path):  # type: ignore[no-untyped-def]
        if "intel-rapl:0:0" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(llem_rapl, "read_counter", dram_denied)
    meter = ZeusMeter()
    meter.start([device(gpus, 0, 0)])
    nvml.advance(1.0)
    reading = meter.stop()
    assert reading.cpu_j is None
    assert any("intel-rapl:0:0" in n and "permission denied" in n for n in reading.notes)


def test_measure_cpu_false_says_so(rapl_tree, zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    nvml = zeus_machine(gpus)
    rapl_tree()
    meter = ZeusMeter(ZeusConfig(measure_cpu=False))
    meter.start([device(gpus, 0, 0)])
    nvml.advance(1.0)
    reading = meter.stop()
    assert reading.cpu_j is None
    assert any("zeus.measure_cpu is false" in n for n in reading.notes)


def test_unknown_cpu_index_is_a_preflight_error(rapl_tree, zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    zeus_machine(gpus)
    rapl_tree(packages=1)
    with pytest.raises(PreflightError, match=r"package\(s\) \[3\] do not exist"):
        ZeusMeter(ZeusConfig(cpu_indices=(0, 3))).start([device(gpus, 0, 0)])


def test_cpu_only_experiment_measures_rapl_when_readable(rapl_tree, zeus_machine):
    zeus_machine([], available=False)
    tree = rapl_tree(packages=1)
    meter = ZeusMeter()
    assert meter.probe([]).ok
    meter.start([])
    tree.add(0, cpu_uj=2_500_000, dram_uj=500_000)
    reading = meter.stop()
    assert reading.method == "rapl"
    assert reading.gpu_j is None
    assert reading.cpu_j == pytest.approx(2.5) and reading.dram_j == pytest.approx(0.5)


def test_cpu_only_experiment_without_rapl_is_unavailable(zeus_machine):
    zeus_machine([], available=False)
    availability = ZeusMeter().probe([])
    assert not availability.ok and "no GPU in this experiment" in availability.reason


def test_stop_without_start_and_double_start_are_errors(zeus_machine):
    gpus = fake_nvml.make_gpus(1)
    zeus_machine(gpus)
    meter = ZeusMeter()
    with pytest.raises(PluginError, match="without an open window"):
        meter.stop()
    meter.start([device(gpus, 0, 0)])
    with pytest.raises(PluginError, match="already open"):
        meter.start([device(gpus, 0, 0)])


def test_old_zeus_ml_distribution_is_named_with_the_fix(zeus_machine, monkeypatch):
    from importlib import metadata

    real_version = metadata.version

    def version(name):
        if name == "zeus":
            raise metadata.PackageNotFoundError(name)
        if name == "zeus-ml":
            return "0.10.1"
        return real_version(name)

    monkeypatch.setattr(metadata, "version", version)
    gpus = fake_nvml.make_gpus(1)
    zeus_machine(gpus)
    availability = ZeusMeter().probe([device(gpus, 0, 0)])
    assert not availability.ok
    assert "zeus-ml" in availability.reason and "pip uninstall zeus-ml" in availability.fix


def test_reading_from_a_real_zeus_measurement_mixes_methods_per_device():
    from llem_zeus.reading import build_reading
    from zeus.monitor.energy import Measurement

    gpus = fake_nvml.make_gpus(2)
    devices = [device(gpus, 0, 0), device(gpus, 1, 1)]
    m = Measurement(time=11.0, gpu_energy={0: 1100.0, 1: 900.0}, cpu_energy=None, dram_energy=None)
    reading = build_reading(
        m,
        devices=devices,
        zeus_index={gpus[0].uuid: 0, gpus[1].uuid: 1},
        has_counter={gpus[0].uuid: True, gpus[1].uuid: False},
        approx_instant_energy=False,
        cpu_notes=("CPU and DRAM energy unavailable: x",),
        zeus_version="0.16.0",
    )
    assert reading.method == "energy_counter+power_integration"
    assert reading.details["gpu_method"][gpus[1].uuid] == "power_integration"
    assert reading.gpu_total_j == pytest.approx(2000.0)
    assert reading.resolution_s is None
    assert dataclasses.is_dataclass(m)


WORKER_SCRIPT = """
import multiprocessing as mp, sys, time

def worker(rapl_dir):
    from zeus.device.cpu import rapl as zeus_rapl
    zeus_rapl.RAPL_DIR = rapl_dir
    zeus_rapl.rapl_is_available.cache_clear()
    from llem_zeus.meter import ZeusMeter
    ZeusMeter().prepare([])   # spawns Zeus's RAPL pollers; the window never opens
    time.sleep(3)             # (model load fails, say) -- the pollers are up and polling

if __name__ == "__main__":
    child = mp.get_context("spawn").Process(target=worker, args=(sys.argv[1],))
    child.start()
    child.join(timeout=60)
    print("exited" if child.exitcode is not None else "hung", child.exitcode)
    if child.exitcode is None:
        child.kill()
"""


@pytest.mark.slow
def test_a_worker_that_prepared_zeus_but_never_measured_still_exits(rapl_tree, tmp_path):
    """multiprocessing joins non-daemon children at exit: Zeus's pollers must be gone."""
    import subprocess
    import sys

    tree = rapl_tree(packages=1, dram=True, real_trackers=True)
    script = tmp_path / "worker_exit.py"
    script.write_text(WORKER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tree.base)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "exited 0", done.stdout + done.stderr
