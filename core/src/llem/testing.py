"""Conformance checks for llem plugins: run them in one line from your own tests.

```python
from llem.testing import BackendConformance

class TestMyBackend(BackendConformance):
    backend_class = MyBackend
    config = {"batch_size": 4}                 # your section, as it appears in YAML
    bad_configs = [{"batch_size": 0}]          # sections that must be rejected
```

pytest collects the inherited ``test_*`` methods. The same checks run without pytest
through ``check_backend``, ``check_meter`` and ``check_sink``. A backend is checked
for: registration through its hookimpl module (and its entry point, when installed),
its config section loading through the core's converter and loader and bad values
being rejected, ``preflight``/``load``/``generate``/``close`` on a small synthetic
workload (one record per request, the asked-for token counts, times on the worker's
``perf_counter_ns`` clock inside the call and in order), and ``close`` releasing what
``load`` took (a second load works; ``resources_in_use`` may report e.g. GPU bytes).

This module imports pytest; import it from tests only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import attrs
import pluggy
import pytest

from llem import hookspecs
from llem.config.schema import DatasetConfig, ExperimentConfig, GenerationConfig
from llem.converter import converter
from llem.errors import ConfigError
from llem.interfaces import (
    Availability,
    Backend,
    Device,
    EnergyReading,
    Meter,
    Request,
    RequestRecord,
    Sink,
)

CLOCK_TOLERANCE_NS = 2_000_000  # engines stamp with their own clocks; allow 2 ms
_HOOKS = {"backend": "register_backends", "meter": "register_meters", "sink": "register_sinks"}


# -- registration and config -----------------------------------------------------------
def check_registers(kind: str, component: type, plugin: ModuleType | str | None = None) -> None:
    """``plugin`` (default: the component's top-level package) registers ``component``
    under its ``name`` through ``@llem.hookimpl``, with the checks the plugin manager
    makes (a subclass of the right base class, a non-empty ``name``, no duplicate)."""
    import importlib

    from llem.plugins import KINDS

    if plugin is None:
        plugin = component.__module__.split(".")[0]
    module = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
    pm = pluggy.PluginManager("llem")
    pm.add_hookspecs(hookspecs)
    pm.register(module, name=module.__name__)  # a misspelt hook name fails here
    registered: list[type] = []
    getattr(pm.hook, _HOOKS[kind])(register=registered.append)
    for cls in registered:
        assert isinstance(cls, type) and issubclass(cls, KINDS[kind]), (
            f"{module.__name__} registered {cls!r}, which does not subclass "
            f"llem.{KINDS[kind].__name__}"
        )
        assert isinstance(getattr(cls, "name", None), str) and cls.name, (
            f"{cls.__qualname__} has no `name`"
        )
    names = [cls.name for cls in registered]
    assert len(names) == len(set(names)), f"{module.__name__} registers a name twice: {names}"
    assert component in registered, (
        f"{module.__name__} does not register {component.__qualname__} as a {kind} "
        f"(it registers: {names or 'nothing'})"
    )


def installed_component(kind: str, name: str) -> type | None:
    """The class the entry-point registry holds under ``name``, or None."""
    from llem.plugins import load_registry

    return load_registry(None).components(kind).get(name)


def _installed_or_skip(kind: str, name: str) -> type | None:
    try:
        return installed_component(kind, name)
    except ImportError as exc:  # the core's built-in plugins are missing: a dev tree
        pytest.skip(f"the plugin registry cannot load here: {exc}")


def structure_section(component: type, data: Mapping[str, Any] | None) -> Any:
    """``data`` structured into ``component.config_type`` by the core's converter; any
    failure becomes a ConfigError (what the loader does, minus the file position)."""
    if component.config_type is None:
        assert not data, f"{component.__name__} has no config_type but a config was given"
        return None
    try:
        return converter.structure(dict(data or {}), component.config_type)
    except Exception as exc:
        raise ConfigError(f"{component.name}: {type(exc).__name__}: {exc}") from exc


def check_config(
    component: type, good: Mapping[str, Any] | None, bad: Sequence[Mapping[str, Any]] = ()
) -> Any:
    """The good section structures (and is frozen attrs); every bad one is rejected."""
    section = structure_section(component, good)
    if component.config_type is not None:
        assert attrs.has(component.config_type), "config_type must be an attrs class"
        assert isinstance(section, component.config_type)
        assert (
            converter.structure(converter.unstructure(section), component.config_type) == section
        ), "round trip differs"
    for data in bad:
        with pytest.raises(ConfigError):
            structure_section(component, data)
    return section


def check_config_through_loader(
    component: type,
    good: Mapping[str, Any] | None,
    bad: Sequence[Mapping[str, Any]],
    model: str,
    tmp_dir: Path,
) -> None:
    """Load YAML files with the section through ``llem.config.loader.load_config``
    (the component must be installed): the good one loads, each bad one is a ConfigError."""
    from llem.config.loader import load_config

    def write(section: Mapping[str, Any] | None, i: int) -> Path:
        import json

        body = {"model": model, "backend": component.name}
        if section is not None:
            body[component.name] = dict(section)
        path = tmp_dir / f"conformance-{i}.yaml"
        path.write_text(json.dumps(body))  # JSON is YAML
        return path

    study = load_config(write(good, 0))
    got = study.experiments[0].section(component.name)
    assert got == structure_section(component, good), "loader and converter disagree"
    for i, data in enumerate(bad, start=1):
        with pytest.raises(ConfigError):
            load_config(write(data, i))


# -- backends --------------------------------------------------------------------------
def synthetic_requests(
    n: int, input_len: int, max_new_tokens: int, vocab_size: int, seed: int = 0
) -> list[Request]:
    """``n`` token-id prompts below ``vocab_size`` (deterministic)."""
    rng = random.Random(seed)
    top = max(1, min(vocab_size, 32_000))
    return [
        Request(
            id=i,
            prompt=None,
            max_new_tokens=max_new_tokens,
            input_ids=tuple(rng.randrange(top) for _ in range(input_len)),
        )
        for i in range(n)
    ]


def check_records(
    requests: Sequence[Request],
    records: Sequence[RequestRecord],
    gen: GenerationConfig,
    start_ns: int,
    end_ns: int,
) -> None:
    """One record per request with the asked-for token counts and ordered times that
    fall inside the generate call (``start_ns``..``end_ns``, perf_counter_ns)."""
    assert isinstance(records, list), "generate must return a list"
    assert len(records) == len(requests), f"{len(records)} records for {len(requests)} requests"
    by_id = {r.id: r for r in requests}
    assert sorted(rec.request_id for rec in records) == sorted(by_id), "request ids differ"
    lo, hi = start_ns - CLOCK_TOLERANCE_NS, end_ns + CLOCK_TOLERANCE_NS
    for rec in records:
        assert isinstance(rec, RequestRecord), f"not a RequestRecord: {rec!r}"
        req = by_id[rec.request_id]
        if req.input_ids is not None:
            assert rec.input_tokens == len(req.input_ids), f"request {req.id}: input tokens"
        want_min = req.max_new_tokens if gen.min_new_tokens is None else gen.min_new_tokens
        assert want_min <= rec.output_tokens <= req.max_new_tokens, (
            f"request {req.id}: {rec.output_tokens} output tokens, asked "
            f"{want_min}..{req.max_new_tokens}"
        )
        first = rec.t_first_token_ns if rec.t_first_token_ns is not None else rec.t_submit_ns
        assert lo <= rec.t_submit_ns <= first <= rec.t_end_ns <= hi, (
            f"request {req.id}: times out of order or outside the call: submit "
            f"{rec.t_submit_ns}, first {rec.t_first_token_ns}, end {rec.t_end_ns}, call "
            f"{start_ns}..{end_ns} (perf_counter_ns)"
        )
        if rec.token_times_ns is not None:
            times = rec.token_times_ns
            assert len(times) == rec.output_tokens, f"request {req.id}: token_times length"
            assert list(times) == sorted(times), f"request {req.id}: token times unordered"
            assert lo <= times[0] and times[-1] <= rec.t_end_ns + CLOCK_TOLERANCE_NS
        assert isinstance(rec.timing_source, str) and rec.timing_source, "timing_source empty"


def experiment_for(
    component: type,
    section: Any,
    model: str,
    *,
    weights: str = "random",
    gpus: Sequence[Device] = (),
    num_requests: int = 4,
    input_len: int = 16,
    max_new_tokens: int = 8,
    **overrides: Any,
) -> ExperimentConfig:
    sections = {} if section is None else {component.name: section}
    cfg = ExperimentConfig(
        model=model,
        backend=component.name,
        weights=weights,
        sections=sections,  # type: ignore[arg-type]
        dataset=DatasetConfig(num_prompts=num_requests, input_len=input_len),
        generation=GenerationConfig(max_new_tokens=max_new_tokens),
    )
    if gpus:  # the config lists the GPUs the backend is given
        cfg = attrs.evolve(cfg, devices=tuple(d.cuda_index for d in gpus))
    return attrs.evolve(cfg, **overrides) if overrides else cfg


def run_backend_once(
    component: type[Backend], section: Any, cfg: ExperimentConfig, devices: Sequence[Device]
) -> Backend:
    """preflight, load, generate (checked), synchronize, close; returns the backend."""
    backend = component(section)
    problems = backend.preflight(cfg)
    assert isinstance(problems, list)
    assert not problems, "preflight problems: " + "; ".join(p.message for p in problems)
    backend.load(cfg, devices)
    try:
        assert isinstance(backend.vocab_size, int) and backend.vocab_size > 0, (
            "load() must set vocab_size"
        )
        gen = cfg.generation
        requests = synthetic_requests(
            cfg.dataset.num_prompts, cfg.dataset.input_len, gen.max_new_tokens, backend.vocab_size
        )
        start = time.perf_counter_ns()
        records = backend.generate(requests, gen)
        end = time.perf_counter_ns()
        backend.synchronize()
        check_records(requests, records, gen, start, end)
    finally:
        backend.close()
    return backend


def check_close_frees(
    component: type[Backend],
    section: Any,
    cfg: ExperimentConfig,
    devices: Sequence[Device],
    resources_in_use: Callable[[], float | None] = lambda: None,
    tolerance: float = 0,
) -> None:
    """After close, ``resources_in_use()`` is back at its value before load, ``close``
    may be called again, and a second backend loads and generates."""
    before = resources_in_use()
    backend = run_backend_once(component, section, cfg, devices)
    after = resources_in_use()
    if before is not None and after is not None:
        assert after <= before + tolerance, (
            f"close() left resources in use: {after} before {before} (tolerance {tolerance})"
        )
    backend.close()  # a second close is harmless
    run_backend_once(component, section, cfg, devices)


def check_backend(
    component: type[Backend],
    config: Mapping[str, Any] | None = None,
    *,
    model: str = "builtin:tiny-llama",
    devices: Sequence[Device] = (),
    bad_configs: Sequence[Mapping[str, Any]] = (),
    plugin: ModuleType | str | None = None,
    resources_in_use: Callable[[], float | None] = lambda: None,
    **experiment: Any,
) -> None:
    """Every backend check, without pytest's collection (raises AssertionError)."""
    check_registers("backend", component, plugin)
    assert isinstance(component.missing_requirement(), (str, type(None)))
    section = check_config(component, config, bad_configs)
    cfg = experiment_for(component, section, model, gpus=devices, **experiment)
    check_close_frees(component, section, cfg, devices, resources_in_use)


class BackendConformance:
    """Subclass as ``Test...`` and set ``backend_class`` (and ``config`` etc.)."""

    backend_class: ClassVar[type[Backend]]
    config: ClassVar[Mapping[str, Any] | None] = None
    bad_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    model: ClassVar[str] = "builtin:tiny-llama"
    weights: ClassVar[str] = "random"
    devices: ClassVar[Sequence[Device]] = ()
    experiment: ClassVar[Mapping[str, Any]] = {}  # more ExperimentConfig fields
    num_requests: ClassVar[int] = 4
    input_len: ClassVar[int] = 16
    max_new_tokens: ClassVar[int] = 8
    plugin: ClassVar[ModuleType | str | None] = None
    resource_tolerance: ClassVar[float] = 0

    def resources_in_use(self) -> float | None:
        """Override to report what load() takes (GPU bytes, open engines); None: unchecked."""
        return None

    def _section(self) -> Any:
        return structure_section(self.backend_class, self.config)

    def _cfg(self) -> ExperimentConfig:
        return experiment_for(
            self.backend_class,
            self._section(),
            self.model,
            weights=self.weights,
            gpus=self.devices,
            num_requests=self.num_requests,
            input_len=self.input_len,
            max_new_tokens=self.max_new_tokens,
            **dict(self.experiment),
        )

    def test_registers_under_its_name(self) -> None:
        check_registers("backend", self.backend_class, self.plugin)

    def test_entry_point_registers_the_same_class(self) -> None:
        found = _installed_or_skip("backend", self.backend_class.name)
        if found is None:
            pytest.skip("not installed as a distribution with a `llem` entry point")
        assert found is self.backend_class

    def test_missing_requirement_is_none_or_a_hint(self) -> None:
        hint = self.backend_class.missing_requirement()
        assert hint is None or (isinstance(hint, str) and hint), hint

    def test_config_section_structures_and_bad_values_are_rejected(self) -> None:
        check_config(self.backend_class, self.config, self.bad_configs)

    def test_config_section_through_the_loader(self, tmp_path: Path) -> None:
        try:
            import llem.config.loader  # noqa: F401
        except ImportError:
            pytest.skip("llem.config.loader is not available")
        if self.backend_class.config_type is None:
            pytest.skip("no config section")
        if _installed_or_skip("backend", self.backend_class.name) is not self.backend_class:
            pytest.skip("the loader only knows sections of installed plugins")
        check_config_through_loader(
            self.backend_class, self.config, self.bad_configs, self.model, tmp_path
        )

    def test_generate_returns_one_ordered_record_per_request(self) -> None:
        run_backend_once(self.backend_class, self._section(), self._cfg(), self.devices)

    def test_close_frees_resources_and_a_second_load_works(self) -> None:
        check_close_frees(
            self.backend_class,
            self._section(),
            self._cfg(),
            self.devices,
            self.resources_in_use,
            self.resource_tolerance,
        )


# -- meters ----------------------------------------------------------------------------
def check_reading(reading: EnergyReading, meter: type[Meter], devices: Sequence[Device]) -> None:
    assert isinstance(reading, EnergyReading), f"stop() returned {reading!r}"
    assert reading.meter == meter.name, f"reading.meter {reading.meter!r} != {meter.name!r}"
    assert isinstance(reading.method, str) and reading.method
    uuids = {d.uuid for d in devices}
    if reading.gpu_j is None:
        assert reading.notes, "gpu_j is None: notes must say why"
    else:
        assert set(reading.gpu_j) <= uuids, f"gpu_j keys {set(reading.gpu_j)} not in {uuids}"
    for name in ("cpu_j", "dram_j"):
        value = getattr(reading, name)
        assert value is None or (math.isfinite(value) and value >= 0), f"{name}={value}"
    for value in (reading.gpu_j or {}).values():
        assert math.isfinite(value) and value >= 0, f"gpu energy {value}"


def check_meter(
    component: type[Meter],
    config: Mapping[str, Any] | None = None,
    *,
    devices: Sequence[Device] = (),
    window_s: float = 0.05,
    plugin: ModuleType | str | None = None,
) -> Availability:
    """Registration, config, probe; if the probe says ok, one window start..stop."""
    check_registers("meter", component, plugin)
    meter = component(structure_section(component, config))
    availability = meter.probe(devices)
    assert isinstance(availability, Availability)
    if not availability.ok:
        assert availability.reason, "an unavailable meter must say why"
        return availability
    meter.start(devices)
    time.sleep(window_s)
    check_reading(meter.stop(), component, devices)
    return availability


class MeterConformance:
    """Subclass as ``Test...``; set ``meter_class`` and ``devices`` (fakes are fine)."""

    meter_class: ClassVar[type[Meter]]
    config: ClassVar[Mapping[str, Any] | None] = None
    bad_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    devices: ClassVar[Sequence[Device]] = ()
    plugin: ClassVar[ModuleType | str | None] = None

    def test_registers_under_its_name(self) -> None:
        check_registers("meter", self.meter_class, self.plugin)

    def test_config_section(self) -> None:
        check_config(self.meter_class, self.config, self.bad_configs)

    def test_probe_then_one_window(self) -> None:
        check_meter(self.meter_class, self.config, devices=self.devices, plugin=self.plugin)


# -- sinks -----------------------------------------------------------------------------
def sample_results() -> tuple[Any, Any]:
    """A minimal ok and failed ExperimentResult and their StudyResult."""
    from llem.results.schema import ExperimentResult, Failure, StudyResult

    now = "2026-01-01T00:00:00+00:00"
    ok = ExperimentResult(
        id="abc123def456-c0",
        config_hash="abc123def456",
        config={"model": "builtin:tiny-llama"},
        cycle=0,
        status="ok",
        started_at=now,
        ended_at=now,
    )
    failed = attrs.evolve(
        ok,
        id="abc123def456-c1",
        cycle=1,
        status="failed",
        error=Failure(kind="exception", message="boom"),
    )
    study = StudyResult(
        name="conformance",
        run_dir="",
        status="complete",
        started_at=now,
        ended_at=now,
        experiments=(ok, failed),
    )
    return (ok, failed), study


def check_sink(
    component: type[Sink],
    run_dir: Path,
    config: Mapping[str, Any] | None = None,
    plugin: ModuleType | str | None = None,
) -> None:
    """open, write both results and the study, close; everything written stays in run_dir."""
    check_registers("sink", component, plugin)
    run_dir.mkdir(parents=True, exist_ok=True)
    outside = set(run_dir.parent.iterdir())
    sink = component(structure_section(component, config))
    sink.open(run_dir)
    results, study = sample_results()
    for result in results:
        sink.write_experiment(result)
    sink.write_study(attrs.evolve(study, run_dir=str(run_dir)))
    sink.close()
    assert set(run_dir.parent.iterdir()) == outside, "the sink wrote outside run_dir"


class SinkConformance:
    """Subclass as ``Test...``; set ``sink_class``."""

    sink_class: ClassVar[type[Sink]]
    config: ClassVar[Mapping[str, Any] | None] = None
    plugin: ClassVar[ModuleType | str | None] = None

    def test_registers_under_its_name(self) -> None:
        check_registers("sink", self.sink_class, self.plugin)

    def test_writes_only_under_run_dir(self, tmp_path: Path, monkeypatch: Any) -> None:
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        check_sink(self.sink_class, tmp_path / "run", self.config, self.plugin)
        assert not list(cwd.iterdir()), "the sink wrote into the working directory"
