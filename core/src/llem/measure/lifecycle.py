"""One experiment, start to finish, inside the worker process (docs/architecture.md).

1. environment snapshot          6. window opens: telemetry sampler, then meters
2. preflight (backend, meters)   7. generate(all requests), or serve them (llem.load)
3. idle baseline (cached)        8. synchronize; window closes
4. load (timed)                  9. derive: performance, energy, prefill/decode split,
5. warmup, thermal floor            FLOPs, warnings; write timeseries.parquet

Phases are announced through ``emit("phase", name)`` and GPU power through
``emit("power", {uuid: watts})`` about once a second (from the baseline sampler, a 1 Hz
power-only sampler during warmup and thermal floor, and the window's sampler). No
sampler thread runs while the backend loads: engines fork worker processes there, and
forking a process with a thread inside NVML can deadlock the child. (The meters are
chosen and prepared in a helper thread beside the backend's preflight; it is joined
before the baseline.) Every failure becomes a failed ExperimentResult (preflight
problems with kind "preflight"); only Ctrl+C escapes.

With a ``SharedEngine`` (a worker kept for ``execution.reuse_engine``) an experiment
whose engine is already loaded skips the load, and the idle baseline is the one
measured before that engine loaded; one that loads keeps its engine there for the next,
unless it failed (an engine in an unknown state is closed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import structlog

from llem.config.schema import ExperimentConfig
from llem.containers.runner import image_for, runner_for
from llem.errors import ConfigError, PluginError, PreflightError
from llem.interfaces import Backend, Device, Meter, RequestRecord
from llem.measure import energy as energy_mod
from llem.measure import performance as perf_mod
from llem.measure import quality
from llem.measure.attribution import Attribution, attribute, null_attribution
from llem.measure.baseline import Baseline, idle_baseline
from llem.measure.environment import snapshot
from llem.measure.flops import estimate_flops, load_architecture
from llem.measure.meters import choose_meters
from llem.measure.warmup import run_warmup
from llem.measure.window import MeasurementWindow, WindowOutcome
from llem.measure.workload import build_workload
from llem.results.failure import failed_result, identity, traceback_tail
from llem.results.schema import (
    Energy,
    Environment,
    ExperimentResult,
    Failure,
    MeasurementWarning,
    Phases,
    WarmupOutcome,
)
from llem.telemetry.devices import discover_gpus, resolve_devices
from llem.telemetry.nvml import DRIVER_FIX
from llem.telemetry.sampler import TelemetrySampler
from llem.timestamps import utc_now

log = structlog.get_logger()

Emit = Callable[[str, Any], None]
TIMESERIES_NAME = "timeseries.parquet"
# The experiment's directory, for files a backend writes itself (llem-server: server.log).
EXPERIMENT_DIR_ENV = "LLEM_EXPERIMENT_DIR"
PREFLIGHT_ERRORS = (PreflightError, PluginError, ConfigError)


def run_experiment(
    cfg: ExperimentConfig,
    *,
    experiment_id: str,
    cycle: int,
    run_dir: Path,
    emit: Emit | None = None,
    registry: Any = None,
    shared: SharedEngine | None = None,
) -> ExperimentResult:
    """Measure ``cfg`` once; a failure is returned as a failed result, never raised.
    ``shared``: the engine to run on if loaded, and to keep loaded afterwards."""
    return Lifecycle(cfg, experiment_id, cycle, Path(run_dir), emit, registry, shared).run()


@attrs.define
class SharedEngine:
    """An engine kept loaded for the worker's next experiment with the same engine key:
    the backend, the idle baseline measured before it loaded, who started it."""

    backend: Backend | None = None
    started_by: str | None = None
    baseline: Baseline | None = None
    baseline_missing: str | None = None

    def close(self) -> None:
        backend, self.backend = self.backend, None
        self.started_by = self.baseline = self.baseline_missing = None
        if backend is None:
            return
        try:
            backend.close()
        except Exception as exc:
            log.warning("backend.close_failed", error=f"{type(exc).__name__}: {exc}")


class Lifecycle:
    def __init__(
        self,
        cfg: ExperimentConfig,
        experiment_id: str,
        cycle: int,
        run_dir: Path,
        emit: Emit | None,
        registry: Any,
        shared: SharedEngine | None = None,
    ) -> None:
        self.cfg = cfg
        self.experiment_id = experiment_id
        self.cycle = cycle
        self.run_dir = run_dir
        self.emit = emit or (lambda kind, payload: None)
        self.registry = registry
        self.started_at = utc_now()
        # Unstructuring a config type for the first time runs ABC subclass checks whose
        # cost grows with the classes loaded: 0.02 s here, 0.4 s after codecarbon's set-up.
        self.identity = identity(cfg)
        self.env: Environment | None = None
        self.backend: Backend | None = None
        self.phases: dict[str, float] = {}
        self.warnings: list[MeasurementWarning] = []
        self.gpu_reason: str | None = None
        self.gpu_fix: str | None = None
        self.baseline_missing: str | None = None
        self._feed: TelemetrySampler | None = None
        self.serving: Any = None  # llem.load.session.ServingRun in serving mode
        self.attribution: Attribution = null_attribution("no GPU energy was measured")
        self.shared = shared
        # the experiment whose engine this one runs on (None: it loads its own)
        self.engine_from = shared.started_by if shared and shared.backend else None

    def run(self) -> ExperimentResult:
        measured = False
        try:
            result = self._measure()
            measured = True
            return result
        except PREFLIGHT_ERRORS as exc:
            log.warning("experiment.preflight_failed", id=self.experiment_id, error=str(exc))
            return self._failed(Failure(kind="preflight", message=str(exc)))
        except Exception as exc:
            log.error(
                "experiment.failed", id=self.experiment_id, error=f"{type(exc).__name__}: {exc}"
            )
            return self._failed(
                Failure(
                    kind="exception",
                    message=f"{type(exc).__name__}: {exc}",
                    traceback_tail=traceback_tail(exc),
                )
            )
        finally:
            self._stop_feed()
            self._close_backend(keep=measured and self.shared is not None)

    # -- the phases ------------------------------------------------------------------------
    def _measure(self) -> ExperimentResult:
        cfg = self.cfg
        if self.registry is None:
            from llem.plugins import get_registry

            self.registry = get_registry()
        devices = self._devices()
        os.environ[EXPERIMENT_DIR_ENV] = str(self.run_dir / "experiments" / self.experiment_id)
        self.env = snapshot(devices, self.registry.plugins, self.gpu_reason)
        # Meter set-up runs beside the backend's preflight: codecarbon's waits about 1 s
        # on a subprocess (py-cpuinfo's clock measurement) while the preflight imports
        # torch (~2 s). The thread is joined here, on every path, before the load.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llem-meters") as pool:
            meters = pool.submit(self._meters, devices)
            self.backend = self._preflight(devices)  # its error wins over the meters'
            primary, cross, meter_warnings = meters.result()
        self.warnings += self._meter_warnings(meter_warnings)
        if self.engine_from is None:
            baseline = self._baseline(devices)
            self._load(devices, baseline)
        else:
            assert self.shared is not None
            baseline, self.baseline_missing = self.shared.baseline, self.shared.baseline_missing
        self._start_feed(devices)
        requests, notes = build_workload(cfg.dataset, cfg.generation, self.backend.vocab_size)
        self.warnings += [MeasurementWarning(n.code, n.message, n.fix) for n in notes]
        warmup = self._warmup(requests)
        self._thermal_floor()
        self._stop_feed()
        outcome, records = self._window(devices, [m for m in (primary, *cross) if m], requests)
        self.warnings += quality.other_processes(devices)
        self._phase("done")
        return self._derive(devices, primary, cross, outcome, records, baseline, warmup)

    def _load(self, devices: Sequence[Device], baseline: Baseline | None) -> None:
        assert self.backend is not None
        self._phase("load")
        t = time.perf_counter()
        self.backend.load(self.cfg, devices)  # no sampler thread runs: engines may fork here
        self.phases["load"] = time.perf_counter() - t
        if self.shared is not None:
            self.shared.backend, self.shared.started_by = self.backend, self.experiment_id
            self.shared.baseline, self.shared.baseline_missing = baseline, self.baseline_missing

    def _devices(self) -> tuple[Device, ...]:
        if not self.cfg.devices:
            self.gpu_reason = "the experiment runs on the CPU (devices is empty)"
            self.gpu_fix = "set devices: [0] to run on (and measure) GPU 0"
            return ()
        found = discover_gpus()
        if not found.devices:
            self.gpu_reason = f"no NVIDIA GPU: {found.reason}"
            self.gpu_fix = found.fix or DRIVER_FIX
            return ()
        return resolve_devices(self.cfg.devices)

    def _preflight(self, devices: Sequence[Device]) -> Backend:
        cfg = self.cfg
        cls = self.registry.get("backend", cfg.backend)
        if self.engine_from is not None:
            assert self.shared is not None and self.shared.backend is not None
            backend: Backend = self.shared.backend
            self.backend = backend
        elif runner_for(cfg.execution, cfg.backend) == "docker":
            from llem.containers.images import default_tag
            from llem.containers.proxy import ContainerBackend

            image = image_for(cfg.execution, cfg.backend, default_tag(cfg.backend))
            exp_dir = self.run_dir / "experiments" / self.experiment_id
            backend = ContainerBackend(cfg, devices, image, exp_dir)
            self.backend = backend  # closed (its container removed) on every path
        else:
            missing = cls.missing_requirement()
            if missing:
                raise PreflightError(f"backend {cfg.backend!r}: {missing}")
            backend = cls(cfg.section(cfg.backend))
        problems = backend.preflight(cfg)
        if problems:
            raise PreflightError(
                f"backend {cfg.backend!r} preflight: "
                + "; ".join(p.message + (f" Fix: {p.fix}" if p.fix else "") for p in problems)
            )
        if runner_for(cfg.execution, cfg.backend) == "docker" and self.env is not None:
            self.env = attrs.evolve(self.env, runner=dict(backend.info))  # type: ignore[attr-defined]
        return backend

    def _meters(
        self, devices: Sequence[Device]
    ) -> tuple[Meter | None, list[Meter], list[MeasurementWarning]]:
        """Choose the meters and prepare them (see ``_measure``: in a helper thread)."""
        cfg = self.cfg
        primary, cross, warnings = choose_meters(
            cfg.energy, self.registry, devices, cfg.sections, cfg.carbon
        )
        for meter in [m for m in (primary, *cross) if m is not None]:
            meter.prepare(devices)
        return primary, cross, warnings

    def _baseline(self, devices: Sequence[Device]) -> Baseline | None:
        cfg = self.cfg.baseline
        if not cfg.enabled:
            self.baseline_missing = "baseline.enabled is false"
            return None
        if not devices:
            return None
        self._phase("baseline")
        t = time.perf_counter()
        try:
            baseline = idle_baseline(
                devices, cfg, interval_s=self._interval_s(), on_power=self._power
            )
        except Exception as exc:  # energy is still measured; adjusted energy is not
            self.baseline_missing = f"measuring it failed ({type(exc).__name__}: {exc})"
            return None
        finally:
            self.phases["baseline"] = time.perf_counter() - t
        if baseline is not None and len(baseline.per_device_w) < len(devices):
            self.baseline_missing = "some GPUs reported no power while idle"
        return baseline

    def _warmup(self, requests: Sequence[Any]) -> WarmupOutcome:
        self._phase("warmup")
        t = time.perf_counter()
        section = self.cfg.section(self.cfg.backend)
        if self.cfg.load.mode == "serving":
            from llem.load.session import ServingRun  # asyncio only when serving

            assert self.backend is not None
            self.serving = ServingRun(self.backend, self.cfg, requests)
            outcome = self.serving.warmup()
            self.phases["warmup"] = time.perf_counter() - t
            return outcome
        outcome = run_warmup(
            self.backend,
            requests,
            self.cfg.generation,
            self.cfg.warmup,
            getattr(section, "batch_size", None),
        )
        self.phases["warmup"] = time.perf_counter() - t
        return outcome

    def _thermal_floor(self) -> None:
        seconds = self.cfg.warmup.thermal_floor_s
        self.phases["thermal_floor"] = seconds
        if seconds > 0:
            self._phase("thermal_floor")
            time.sleep(seconds)

    def _window(
        self, devices: Sequence[Device], meters: Sequence[Meter], requests: Sequence[Any]
    ) -> tuple[WindowOutcome, list[RequestRecord]]:
        self._phase("measuring")
        assert self.backend is not None
        window = MeasurementWindow(devices, meters, self._interval_s(), on_power=self._power)
        self.backend.engine_steps()  # drop the warmup's steps: "since the last call"
        window.open()
        try:
            if self.serving is not None:
                records = self.serving.measure()
            else:
                records = list(self.backend.generate(requests, self.cfg.generation))
            self.backend.synchronize()
        except BaseException:
            window.abort()
            raise
        outcome = window.close()
        self.phases["window"] = outcome.duration_s
        if self.serving is None and len(records) != len(requests):
            raise RuntimeError(
                f"backend {self.cfg.backend!r} returned {len(records)} records "
                f"for {len(requests)} requests; it must return one per request"
            )
        log.info(
            "window.closed",
            id=self.experiment_id,
            duration_s=outcome.duration_s,
            readings={k: r.gpu_total_j for k, r in outcome.readings.items()},
        )
        return outcome, records

    # -- deriving the result ------------------------------------------------------------------
    def _derive(
        self,
        devices: Sequence[Device],
        primary: Meter | None,
        cross: Sequence[Meter],
        outcome: WindowOutcome,
        records: list[RequestRecord],
        baseline: Baseline | None,
        warmup: WarmupOutcome,
    ) -> ExperimentResult:
        cfg = self.cfg
        window_s = outcome.duration_s
        scheduled = self.serving.scheduled_ns if self.serving is not None else None
        perf = perf_mod.performance(records, window_s, scheduled)
        workload = perf_mod.workload(dataset_label(cfg), records)
        energy = self._energy(devices, primary, cross, outcome, records, baseline)
        interval_ms = cfg.energy.sample_interval_ms
        series = outcome.timeseries
        w = self.warnings
        w += quality.methodology(cfg, self.baseline_missing)
        if baseline is not None and not baseline.settled:
            w += quality.baseline_unsettled(baseline.drift_w, baseline.duration_s)
        w += quality.warmup_quality(warmup, cfg.warmup.cv_target, cfg.warmup.max_runs)
        if energy.total_j is not None:
            w += quality.short_window(window_s, cfg.energy.min_window_s)
        if devices:
            w += quality.persistence_off(self.env)
            w += quality.thermal_drift(series, cfg.energy.thermal_drift_c)
            w += quality.few_samples(series, devices, interval_ms)
            w += quality.throttling(series, self.env)
            w += quality.sampler_failed(outcome.sampler_error)
        primary_reading = outcome.readings.get(primary.name) if primary else None
        w += quality.energy_quality(primary_reading, energy.cross_check_rel_diff, window_s)
        w += quality.phase_split_coarse(energy.prefill_s, interval_ms)
        serving, serving_warnings = self._serving_sections(outcome, devices, baseline)
        w += serving_warnings
        config_hash, config = self.identity
        return ExperimentResult(
            id=self.experiment_id,
            config_hash=config_hash,
            config=config,
            cycle=self.cycle,
            status="ok",
            started_at=self.started_at,
            ended_at=utc_now(),
            name=cfg.name,
            environment=self.env,
            workload=workload,
            performance=perf,
            energy=energy,
            phases=Phases(
                baseline_s=self.phases.get("baseline"),
                load_s=self.phases.get("load"),
                warmup_s=self.phases.get("warmup"),
                thermal_floor_s=self.phases.get("thermal_floor"),
                window_s=window_s,
                engine_from=self.engine_from,
            ),
            flops=estimate_flops(
                getattr(self.backend, "num_parameters", None), records, load_architecture(cfg.model)
            ),
            warmup=warmup,
            timeseries_file=self._write_timeseries(outcome),
            warnings=tuple(_unique(w)),
            backend_details=dict(getattr(self.backend, "details", None) or {}),
            **serving,
        )

    def _serving_sections(
        self, outcome: WindowOutcome, devices: Sequence[Device], baseline: Baseline | None
    ) -> tuple[dict[str, Any], list[MeasurementWarning]]:
        """The serving fields of the result (none offline), and their warnings."""
        if self.serving is None:
            return {}, []
        return self.serving.sections(
            (outcome.t0_ns, outcome.t1_ns),
            self.attribution,
            energy_mod.baseline_power(baseline, [d.uuid for d in devices]),
            self.run_dir / "experiments" / self.experiment_id,
            self.run_dir,
        )

    def _energy(
        self,
        devices: Sequence[Device],
        primary: Meter | None,
        cross: Sequence[Meter],
        outcome: WindowOutcome,
        records: list[RequestRecord],
        baseline: Baseline | None,
    ) -> Energy:
        cross_readings = [outcome.readings[m.name] for m in cross if m.name in outcome.readings]
        for name, error in outcome.meter_errors.items():
            self.warnings.append(
                MeasurementWarning(
                    "meter_failed",
                    f"the {name} meter failed to close its window: {error}",
                    f"check the {name} meter's installation, or choose another",
                )
            )
        if primary is None:
            return energy_mod.null_energy(self._null_reason(), cross_readings)
        reading = outcome.readings.get(primary.name)
        if reading is None:
            return energy_mod.null_energy(
                f"the {primary.name} meter failed: {outcome.meter_errors.get(primary.name)}",
                cross_readings,
            )
        series = outcome.timeseries
        power = {d.uuid: series.rows(d.uuid, "power_w") for d in devices} if series else {}
        counters = {d.uuid: series.rows(d.uuid, "energy_mj") for d in devices} if series else {}
        total = energy_mod.reading_total(reading)
        # the meter's GPU energy; a CPU-only meter's (codecarbon, RAPL) total without one
        split = attribute(
            records,
            power,
            (outcome.t0_ns, outcome.t1_ns),
            reading.gpu_total_j if reading.gpu_total_j is not None else total,
            baseline_w=energy_mod.baseline_power(baseline, [d.uuid for d in devices]),
            steps=self.backend.engine_steps() if self.backend is not None else None,
            edges=self.serving.edges if self.serving is not None else (),
            counters=counters,
        )
        self.attribution = split
        energy = energy_mod.derive_energy(
            reading,
            cross_readings,
            window_s=outcome.duration_s,
            num_gpus=len(devices),
            baseline=baseline,
            device_uuids=[d.uuid for d in devices],
            output_tokens=sum(r.output_tokens for r in records),
            split=split,
            co2=self._co2(total),
        )
        return attrs.evolve(energy, meter_choice=primary.chosen_because)

    def _null_reason(self) -> str:
        if self.cfg.energy.meter is None:
            return "energy measurement is off (energy.meter is null)"
        if self.gpu_reason:
            return self.gpu_reason
        return "no energy meter could measure here (see the no_meter warning)"

    def _meter_warnings(self, warnings: list[MeasurementWarning]) -> list[MeasurementWarning]:
        """With no GPU, one warning that says why and what to install replaces the list
        of every meter's refusal."""
        if not self.gpu_reason or not any(w.code == "no_meter" for w in warnings):
            return warnings
        kept = [w for w in warnings if w.code != "no_meter"]
        return kept + quality.energy_unavailable(
            self.gpu_reason,
            f"{self.gpu_fix}; for CPU energy without a GPU install a CPU meter: "
            f"pip install llem-zeus (RAPL) or llem-codecarbon",
        )

    def _co2(self, total_j: float | None) -> tuple[float, Mapping[str, Any]] | None:
        if total_j is None:
            return None
        try:
            return self.registry.estimate_co2(total_j, self.cfg.carbon)
        except Exception as exc:  # an estimate is not worth the measurement
            log.warning("co2.estimate_failed", error=f"{type(exc).__name__}: {exc}")
            return None

    def _write_timeseries(self, outcome: WindowOutcome) -> str | None:
        series = outcome.timeseries
        if not self.cfg.output.save_timeseries or series is None or len(series) == 0:
            return None
        relative = Path("experiments") / self.experiment_id / TIMESERIES_NAME
        series.write_parquet(self.run_dir / relative, t0_ns=outcome.t0_ns)
        return relative.as_posix()

    # -- plumbing ------------------------------------------------------------------------------
    def _failed(self, failure: Failure) -> ExperimentResult:
        return failed_result(
            self.cfg,
            experiment_id=self.experiment_id,
            cycle=self.cycle,
            started_at=self.started_at,
            failure=failure,
            environment=self.env,
            warnings=tuple(_unique(self.warnings)),
        )

    def _interval_s(self) -> float:
        return self.cfg.energy.sample_interval_ms / 1000.0

    def _phase(self, name: str) -> None:
        log.info("experiment.phase", id=self.experiment_id, phase=name)
        self.emit("phase", name)

    def _power(self, watts: Mapping[str, float]) -> None:
        self.emit("power", dict(watts))

    def _start_feed(self, devices: Sequence[Device]) -> None:
        if devices:
            self._feed = TelemetrySampler(
                devices,
                1.0,
                full=False,
                edge_energy=False,
                keep=False,
                on_power=self._power,
                power_every_s=0.9,
            ).start()

    def _stop_feed(self) -> None:
        if self._feed is not None:
            self._feed.stop()
            self._feed = None

    def _close_backend(self, keep: bool) -> None:
        """Stop serving; close the backend unless ``keep`` (it stays in ``shared``)."""
        if self.serving is not None:
            try:
                self.serving.close()
            except Exception as exc:
                log.warning("serving.stop_failed", error=f"{type(exc).__name__}: {exc}")
                keep = False
            self.serving = None
        backend, self.backend = self.backend, None
        if keep or backend is None:
            return
        if self.shared is not None and self.shared.backend is backend:
            self.shared.close()
            return
        try:
            backend.close()
        except Exception as exc:
            log.warning("backend.close_failed", error=f"{type(exc).__name__}: {exc}")


def dataset_label(cfg: ExperimentConfig) -> str:
    d = cfg.dataset
    if d.source == "synthetic":
        length = (
            f"{d.input_len_min}-{d.input_len_max}"
            if d.input_len_min is not None
            else str(d.input_len)
        )
        return f"synthetic(input_len={length}, seed={d.seed})"
    if d.source == "jsonl":
        return f"jsonl:{d.path}"
    return "aienergyscore"


def _unique(warnings: Sequence[MeasurementWarning]) -> list[MeasurementWarning]:
    """Each warning once, in order (by code and text: ``details`` is an unhashable dict)."""
    seen: set[tuple[str, str, str, str]] = set()
    out = []
    for w in warnings:
        key = (w.code, w.message, w.fix, w.severity)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out
