"""The whole lifecycle in-process: fake NVML machine, fake backend, real meters and sinks."""

from __future__ import annotations

import threading
import time

import attrs
import pyarrow.parquet as pq
import pytest
from llem import Availability, EnergyReading, Meter
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    EnergyConfig,
    ExecutionConfig,
    ExperimentConfig,
    GenerationConfig,
    WarmupConfig,
)
from llem.measure.lifecycle import run_experiment

from tests.fakes.backend import FakeBackendConfig

FOUR = [{"uuid": f"GPU-{i}0000000-0000-0000-0000-00000000000{i}"} for i in range(4)]


def make_cfg(fake=None, **changes):  # type: ignore[no-untyped-def]
    base = ExperimentConfig(
        model="fake-model",
        backend="fake",
        devices=(0,),
        dataset=DatasetConfig(num_prompts=8, input_len=16),
        generation=GenerationConfig(max_new_tokens=8),
        warmup=WarmupConfig(runs=1, thermal_floor_s=0),
        baseline=BaselineConfig(duration_s=0.2),
        energy=EnergyConfig(sample_interval_ms=20, min_window_s=0.1),
        execution=ExecutionConfig(cycles=3),
        sections={"fake": fake or FakeBackendConfig()},
    )
    return attrs.evolve(base, **changes)


def run(cfg, registry, tmp_path, events=None):  # type: ignore[no-untyped-def]
    emit = (lambda kind, payload: events.append((kind, payload))) if events is not None else None
    return run_experiment(
        cfg, experiment_id="cafe-c1", cycle=1, run_dir=tmp_path, emit=emit, registry=registry
    )


def codes(result):  # type: ignore[no-untyped-def]
    return [w.code for w in result.warnings]


def test_measured_experiment_has_energy_performance_phases_and_time_series(
    fake_nvml, fake_registry, tmp_path
):
    fake_nvml.configure(gpus=[{"power_w": 70.0}, {"power_w": 70.0}])
    fake = FakeBackendConfig(
        batch_size=8,
        prefill_s=0.15,
        step_s=0.04,
        prefill_power_w=400.0,
        decode_power_w=200.0,
        idle_power_w=70.0,
    )
    events: list = []
    r = run(make_cfg(fake, devices=(0, 1)), fake_registry, tmp_path, events)
    assert r.status == "ok", r.error
    e, p = r.energy, r.performance
    assert e.meter == "nvml" and e.method == "energy_counter"
    window = r.phases.window_s
    # 0.15 s at 400 W then 0.28 s at 200 W on each of two GPUs
    assert e.gpu_j == pytest.approx(2 * (0.15 * 400 + 0.28 * 200), rel=0.08)
    assert e.total_j == e.gpu_j
    assert set(e.per_device_j) == {g.uuid for g in r.environment.gpus}
    assert e.prefill_j == pytest.approx(2 * 0.15 * 400, rel=0.15)
    assert e.prefill_j + e.decode_j == pytest.approx(e.gpu_j)
    assert e.baseline_power_w == pytest.approx(140.0)
    assert e.adjusted_j == pytest.approx(e.gpu_j - 140.0 * window)
    assert e.energy_per_output_token_j == pytest.approx(e.total_j / 64)
    assert e.accuracy_bound_j == pytest.approx(10.0 * window)
    assert p.tokens_per_second == pytest.approx(64 / window)
    assert p.ttft_s.mean == pytest.approx(0.15, rel=0.2)
    assert r.workload.output_tokens == 64 and r.workload.input_tokens == 8 * 16
    assert r.flops.total == 2 * 1_000_000 * (64 + 128)
    assert r.warmup.runs == 1 and r.phases.baseline_s >= 0.2 and r.phases.load_s is not None
    assert [p for k, p in events if k == "phase"] == [
        "baseline",
        "load",
        "warmup",
        "measuring",
        "done",
    ]
    table = pq.read_table(tmp_path / r.timeseries_file)
    assert r.timeseries_file == "experiments/cafe-c1/timeseries.parquet"
    assert set(table.column("gpu_uuid").to_pylist()) == set(e.per_device_j)
    assert table.num_rows >= 2 * 10
    assert r.environment.gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert "energy_unavailable" not in codes(r)


def test_cuda_visible_devices_2_0_measures_nvml_gpus_2_and_0(
    fake_nvml, fake_registry, tmp_path, monkeypatch
):
    fake_nvml.configure(gpus=FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    r = run(make_cfg(devices=(0, 1)), fake_registry, tmp_path)
    assert [g.nvml_index for g in r.environment.gpus] == [2, 0]
    assert list(r.energy.per_device_j) == [FOUR[2]["uuid"], FOUR[0]["uuid"]]


def test_without_nvml_the_run_completes_with_null_energy_and_says_why(
    fake_nvml, fake_registry, tmp_path
):
    fake_nvml.configure(available=False)
    r = run(make_cfg(), fake_registry, tmp_path)
    assert r.status == "ok" and r.performance.tokens_per_second > 0
    assert r.energy.total_j is None and r.energy.energy_per_output_token_j is None
    assert "NVML" in r.energy.null_reason
    warning = next(w for w in r.warnings if w.code == "energy_unavailable")
    assert "NVML" in warning.message and "install" in warning.fix
    assert "no_meter" not in codes(r) and r.timeseries_file is None
    assert r.environment.gpu_unavailable_reason


def test_a_cpu_experiment_has_null_energy_with_the_reason(fake_nvml, fake_registry, tmp_path):
    r = run(make_cfg(devices=()), fake_registry, tmp_path)
    assert r.status == "ok" and "CPU" in r.energy.null_reason


def test_energy_off_is_null_without_a_warning(fake_nvml, fake_registry, tmp_path):
    r = run(make_cfg(energy=EnergyConfig(meter=None)), fake_registry, tmp_path)
    assert "energy.meter is null" in r.energy.null_reason
    assert "energy_unavailable" not in codes(r) and "no_meter" not in codes(r)


def test_preflight_problems_are_a_failed_result_of_kind_preflight(
    fake_nvml, fake_registry, tmp_path
):
    r = run(make_cfg(FakeBackendConfig(problem="needs 99 GB")), fake_registry, tmp_path)
    assert r.status == "failed" and r.error.kind == "preflight"
    assert "needs 99 GB" in r.error.message and "Fix: fix the fake" in r.error.message
    assert r.environment is not None and r.config_hash and r.config["backend"] == "fake"


def test_unknown_backend_and_unusable_explicit_meter_are_preflight_failures(
    fake_nvml, fake_registry, tmp_path
):
    r = run(make_cfg(backend="nosuchengine"), fake_registry, tmp_path)
    assert r.error.kind == "preflight" and "no backend named 'nosuchengine'" in r.error.message
    r = run(make_cfg(devices=(), energy=EnergyConfig(meter="nvml")), fake_registry, tmp_path)
    assert r.error.kind == "preflight" and "energy.meter 'nvml'" in r.error.message


def test_a_backend_exception_is_a_failed_result_and_the_sampler_stops(
    fake_nvml, fake_registry, tmp_path
):
    threads = threading.active_count()
    r = run(make_cfg(FakeBackendConfig(crash="raise")), fake_registry, tmp_path)
    assert r.status == "failed" and r.error.kind == "exception"
    assert "told to fail in generate" in r.error.message
    assert "Traceback" in r.error.traceback_tail and "backend.py" in r.error.traceback_tail
    assert threading.active_count() == threads


def test_a_backend_that_loses_records_fails_clearly(fake_nvml, fake_registry, tmp_path):
    r = run(make_cfg(FakeBackendConfig(records_short=True)), fake_registry, tmp_path)
    assert r.status == "failed" and "returned 7 records for 8 requests" in r.error.message


def test_no_first_token_times_give_a_null_split_with_the_reason(fake_nvml, fake_registry, tmp_path):
    r = run(make_cfg(FakeBackendConfig(no_first_token=True)), fake_registry, tmp_path)
    assert r.status == "ok" and r.energy.prefill_j is None and r.energy.decode_j is None
    assert "no first-token time" in r.energy.phase_split_null_reason
    assert r.performance.ttft_s.mean is None and r.energy.total_j is not None


def test_methodology_shortcuts_become_warnings(fake_nvml, fake_registry, tmp_path):
    fake_nvml.configure(gpus=[{"persistence": False}])
    cfg = make_cfg(
        baseline=BaselineConfig(enabled=False),
        execution=ExecutionConfig(cycles=1),
        energy=EnergyConfig(sample_interval_ms=100, min_window_s=10.0),
    )
    r = run(cfg, fake_registry, tmp_path)
    assert {
        "thermal_floor_short",
        "no_baseline",
        "single_cycle",
        "short_window",
        "persistence_off",
        "few_samples",
    } <= set(codes(r))
    assert r.energy.adjusted_j is None and r.energy.baseline_power_w is None


def test_a_baseline_that_never_settled_is_warned_about(
    fake_nvml, fake_registry, tmp_path, monkeypatch
):
    from llem.measure import baseline as bl

    monkeypatch.setattr(bl, "SETTLE_CHECK_S", 0.05)
    fake_nvml.configure(gpus=[{"power_w": 300.0}])
    falling = threading.Event()

    def cool() -> None:  # -100 W/s while the baseline is measured
        watts = 300.0
        while not falling.wait(0.01):
            watts -= 1.0
            fake_nvml.set_power(None, max(watts, 70.0))

    threading.Thread(target=cool, daemon=True).start()
    try:
        r = run(
            make_cfg(baseline=BaselineConfig(duration_s=0.3, max_settle_s=0.3)),
            fake_registry,
            tmp_path,
        )
    finally:
        falling.set()
    assert r.status == "ok", r.error
    warning = next(w for w in r.warnings if w.code == "baseline_unsettled")
    assert "had not settled" in warning.message and "config_gap_s" in warning.fix
    assert r.energy.baseline_source.endswith("still drifting)")


def test_another_process_on_the_gpu_is_warned_about(fake_nvml, fake_registry, tmp_path):
    import os

    fake_nvml.configure(gpus=[{"processes": [[os.getpid(), 1], [31337, 1]]}])
    r = run(make_cfg(), fake_registry, tmp_path)
    assert "other_process" in codes(r)


class ScaledNvml(Meter):
    """A cross-check meter: the nvml counter reading times ``factor``."""

    name = "scaled"
    factor = 1.0

    def probe(self, devices):  # type: ignore[no-untyped-def]
        return Availability(True)

    def start(self, devices):  # type: ignore[no-untyped-def]
        from llem.telemetry.nvml_meter import NvmlMeter

        self.inner = NvmlMeter()
        self.inner.start(devices)

    def stop(self):  # type: ignore[no-untyped-def]
        r = self.inner.stop()
        return EnergyReading(
            meter=self.name, method="scaled", gpu_j={k: v * self.factor for k, v in r.gpu_j.items()}
        )


@pytest.mark.parametrize("factor, warned", [(1.0, False), (1.1, True)])
def test_cross_check_meters_measure_the_same_window(
    fake_nvml, fake_registry, tmp_path, monkeypatch, factor, warned
):
    monkeypatch.setattr(ScaledNvml, "factor", factor)
    fake_registry.meters["scaled"] = ScaledNvml
    cfg = make_cfg(
        energy=EnergyConfig(
            meter="nvml", cross_check=("scaled",), sample_interval_ms=20, min_window_s=0.1
        )
    )
    r = run(cfg, fake_registry, tmp_path)
    assert [x.meter for x in r.energy.readings] == ["nvml", "scaled"]
    assert r.energy.cross_check_rel_diff["scaled"] == pytest.approx(factor - 1, abs=0.02)
    assert ("cross_check_disagreement" in codes(r)) is warned


def test_co2_comes_from_the_estimate_hook(fake_nvml, fake_registry, tmp_path, monkeypatch):
    monkeypatch.setattr(
        type(fake_registry), "estimate_co2", lambda self, j, carbon: (j * 1e-7, {"source": "test"})
    )
    r = run(make_cfg(), fake_registry, tmp_path)
    assert r.energy.co2_kg == pytest.approx(r.energy.total_j * 1e-7)
    assert r.energy.co2_details == {"source": "test"}


def test_no_timeseries_when_output_says_so(fake_nvml, fake_registry, tmp_path):
    from llem.config.schema import OutputConfig

    r = run(make_cfg(output=OutputConfig(save_timeseries=False)), fake_registry, tmp_path)
    assert r.timeseries_file is None and not (tmp_path / "experiments").exists()


class RendezvousMeter(Meter):
    """A meter whose prepare() meets the backend's preflight halfway: both can only
    finish if they run at the same time. Records the thread it was prepared in."""

    name = "rendezvous"
    preparing = threading.Event()
    preflighting = threading.Event()
    prepared_in: str | None = None
    prepare_done = False
    prepare_s = 0.0

    def probe(self, devices):  # type: ignore[no-untyped-def]
        return Availability(True)

    def prepare(self, devices):  # type: ignore[no-untyped-def]
        cls = type(self)
        cls.prepared_in = threading.current_thread().name
        cls.preparing.set()
        cls.preflighting.wait(5)
        time.sleep(cls.prepare_s)
        cls.prepare_done = True

    def start(self, devices):  # type: ignore[no-untyped-def]
        self.t0 = time.perf_counter()

    def stop(self):  # type: ignore[no-untyped-def]
        return EnergyReading(
            meter=self.name, method="fake", gpu_j={"x": time.perf_counter() - self.t0}
        )


@pytest.fixture
def rendezvous(fake_registry, monkeypatch):  # type: ignore[no-untyped-def]
    """The rendezvous meter registered, and the fake backend's preflight and load
    instrumented: what they saw lands in the returned dict."""
    seen: dict = {}
    for name, value in (
        ("preparing", threading.Event()),
        ("preflighting", threading.Event()),
        ("prepared_in", None),
        ("prepare_done", False),
        ("prepare_s", 0.0),
    ):
        monkeypatch.setattr(RendezvousMeter, name, value)
    fake_registry.meters["rendezvous"] = RendezvousMeter
    backend = fake_registry.backends["fake"]
    preflight, load = backend.preflight, backend.load

    def met_preflight(self, cfg):  # type: ignore[no-untyped-def]
        RendezvousMeter.preflighting.set()
        seen["met"] = RendezvousMeter.preparing.wait(5)
        seen["preflight_thread"] = threading.current_thread().name
        return preflight(self, cfg)

    def watched_load(self, cfg, devices):  # type: ignore[no-untyped-def]
        seen["threads_at_load"] = [t.name for t in threading.enumerate()]
        return load(self, cfg, devices)

    monkeypatch.setattr(backend, "preflight", met_preflight)
    monkeypatch.setattr(backend, "load", watched_load)
    return seen


def helper_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("llem-meters")]


def test_meters_are_prepared_beside_the_backend_preflight_and_joined_before_load(
    fake_nvml, fake_registry, rendezvous, tmp_path
):
    cfg = make_cfg(
        energy=EnergyConfig(
            meter="rendezvous", cross_check=("rendezvous",), sample_interval_ms=20, min_window_s=0.1
        )
    )
    r = run(cfg, fake_registry, tmp_path)
    assert r.status == "ok", r.error
    assert rendezvous["met"]  # prepare() was running while the preflight ran
    assert RendezvousMeter.prepared_in.startswith("llem-meters")
    assert rendezvous["preflight_thread"] == threading.current_thread().name
    assert not [n for n in rendezvous["threads_at_load"] if n.startswith("llem-meters")]
    assert r.energy.meter == "rendezvous"
    assert "cross_check_is_primary" in codes(r)  # choose_meters' warnings are kept
    assert not helper_threads()


def test_a_backend_preflight_failure_wins_and_waits_for_the_meter_thread(
    fake_nvml, fake_registry, rendezvous, tmp_path, monkeypatch
):
    monkeypatch.setattr(RendezvousMeter, "prepare_s", 0.3)
    cfg = make_cfg(
        FakeBackendConfig(problem="needs 99 GB"), energy=EnergyConfig(meter="rendezvous")
    )
    r = run(cfg, fake_registry, tmp_path)
    assert r.status == "failed" and r.error.kind == "preflight"
    assert "needs 99 GB" in r.error.message
    assert RendezvousMeter.prepare_done and not helper_threads()  # joined, not left running
    assert "threads_at_load" not in rendezvous


def test_when_backend_and_meter_both_fail_preflight_the_backend_is_reported(
    fake_nvml, fake_registry, tmp_path
):
    cfg = make_cfg(
        FakeBackendConfig(problem="needs 99 GB"), devices=(), energy=EnergyConfig(meter="nvml")
    )
    r = run(cfg, fake_registry, tmp_path)
    assert r.error.kind == "preflight" and "needs 99 GB" in r.error.message
    assert "energy.meter" not in r.error.message and not helper_threads()


def test_an_unusable_explicit_meter_fails_preflight_with_its_own_text(
    fake_nvml, fake_registry, tmp_path
):
    r = run(make_cfg(devices=(), energy=EnergyConfig(meter="nvml")), fake_registry, tmp_path)
    assert r.status == "failed" and r.error.kind == "preflight"
    assert r.error.message.startswith("energy.meter 'nvml' cannot measure here: ")
    assert "Fix: " in r.error.message and not helper_threads()


def test_the_result_says_which_meter_auto_chose_and_why(fake_nvml, fake_registry, tmp_path):
    r = run(make_cfg(), fake_registry, tmp_path)
    assert r.status == "ok", r.error
    assert r.energy.meter_choice.startswith(
        "energy.meter: auto chose nvml (first-party, llem-core): the first that can measure here"
    )
