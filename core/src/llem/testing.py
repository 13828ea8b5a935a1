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
for: registration through its hookimpl module (no misspelt hook; its entry point, when
installed, registers the same class and no other plugin claims its name), its config
section loading through the core's converter and loader, with bad examples that are
rejected (a section without any fails: nothing would show that its validators work),
``preflight``/``load``/``generate``/``close`` on a small synthetic workload (one record
per request, the asked-for token counts, times on the worker's ``perf_counter_ns``
clock inside the call and in order, and the backend reading the options of the section
it was given), and ``close`` releasing what ``load`` took (a second load works;
``resources_in_use`` may report e.g. GPU bytes). A backend whose class sets ``serves =
True`` is also driven through the core's own load generator (``check_streaming``):
each request's own ``max_new_tokens``, TokenChunks whose last says ``finished``, token
times in order on the worker's clock, several requests in flight on one event loop,
``start_serving``/``stop_serving`` around them. A meter's window must report energy
above 0 J or None with a note saying why; a sink must write something.

This module imports pytest; import it from tests only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

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
_HOOK_NAMES = (*_HOOKS.values(), "register_commands", "estimate_co2")


# -- registration and config -----------------------------------------------------------
def check_registers(
    kind: str, component: type[Any], plugin: ModuleType | str | None = None
) -> None:
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
    pm.register(module, name=module.__name__)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        from llem.plugins import unknown_hooks_message

        known = [n for n in _HOOK_NAMES if hasattr(hookspecs, n)]
        unknown = [h.name for h in pm.get_hookcallers(module) or [] if not h.has_spec()]
        message = f"{module.__name__}: {unknown_hooks_message(unknown, known)}"
        raise AssertionError(message) from None
    registered: list[type[Any]] = []
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


def installed_component(kind: str, name: str) -> type[Any] | None:
    """The class the entry-point registry holds under ``name``, or None."""
    from llem.plugins import load_registry

    return load_registry(None).components(kind).get(name)


def _installed_or_skip(kind: str, component: type[Any]) -> type[Any]:
    """The class installed under ``component.name``; fails when another plugin claims
    the name or the plugin that ships ``component`` is installed but broken, and skips
    only when no entry point ships it."""
    from llem.plugins import load_registry

    try:
        registry = load_registry(None)
    except ImportError as exc:  # the core's built-in plugins are missing: a dev tree
        pytest.skip(f"the plugin registry cannot load here: {exc}")
    name = component.name
    if (kind, name) in registry.conflicts:
        raise AssertionError(registry.conflicts[(kind, name)])
    found = registry.components(kind).get(name)
    if found is not None:
        return found
    package = component.__module__.split(".")[0]
    for info in registry.plugins:
        if info.status != "ok" and _entry_point_package(info.name) == package:
            raise AssertionError(
                f"the plugin {info.name} ({info.distribution}) that ships {package} is "
                f"installed but {info.status}: {info.error}"
            )
    pytest.skip("not installed as a distribution with a `llem` entry point")


def check_installed(kind: str, component: type[Any]) -> None:
    """The installed registry holds ``component`` itself under its name (see
    ``_installed_or_skip`` for when this fails or skips)."""
    found = _installed_or_skip(kind, component)
    assert found is component, (
        f"the installed {kind} {component.name!r} is {found.__module__}.{found.__qualname__}, "
        f"not {component.__module__}.{component.__qualname__}"
    )


def _entry_point_package(name: str) -> str | None:
    from importlib import metadata

    for ep in metadata.entry_points(group="llem"):
        if ep.name == name:
            return ep.value.split(":")[0].split(".")[0]
    return None


def structure_section(component: type[Any], data: Mapping[str, Any] | None) -> Any:
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
    component: type[Any], good: Mapping[str, Any] | None, bad: Sequence[Mapping[str, Any]] = ()
) -> Any:
    """The good section structures (and is frozen attrs); every bad one is rejected."""
    section = structure_section(component, good)
    if component.config_type is not None:
        assert attrs.has(component.config_type), "config_type must be an attrs class"
        assert isinstance(section, component.config_type)
        assert (
            converter.structure(converter.unstructure(section), component.config_type) == section
        ), "round trip differs"
        assert bad, (
            f"{component.__qualname__} has a config section "
            f"({component.config_type.__name__}) but no bad examples: set bad_configs to "
            f"sections its validators must reject (a wrong type, an out-of-range value, an "
            f"unknown key), or nothing shows that a bad config fails before a run"
        )
    for data in bad:
        try:
            accepted = structure_section(component, data)
        except ConfigError:
            continue
        raise AssertionError(
            f"{component.__qualname__}: the bad section {dict(data)!r} was accepted as "
            f"{accepted!r}; add a validator that rejects it (or fix bad_configs)"
        )
    return section


def check_config_through_loader(
    component: type[Any],
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
    component: type[Any],
    section: Any,
    model: str,
    *,
    weights: Literal["pretrained", "random"] = "random",
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
    """preflight, load, generate (checked), synchronize, close; returns the backend.
    The backend must read at least one option of the section it is given (in the
    constructor, preflight, load or generate): one that reads none ignores its config."""
    section, reads = recording_section(section)
    if section is not None:
        cfg = attrs.evolve(cfg, sections={**cfg.sections, component.name: section})
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
    if section is not None and reads is not None and not reads:
        fields = ", ".join(f.name for f in attrs.fields(type(section)))
        raise AssertionError(
            f"{component.__qualname__} read none of the options of the {component.name} "
            f"section it was given ({fields}) in __init__, preflight, load or generate: "
            f"it ignores its configuration (use self.section, not a default section of "
            f"its own)"
        )
    return backend


def recording_section(section: Any) -> tuple[Any, set[str] | None]:
    """A copy of the attrs ``section`` that records which of its fields are read, and
    the set it records into (None for a section that is not an attrs instance)."""
    if section is None or not attrs.has(type(section)):
        return section, None
    cls = type(section)
    names = {f.name for f in attrs.fields(cls)}
    reads: set[str] = set()
    if not names:
        return section, None

    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807
        if name in names:
            reads.add(name)
        return object.__getattribute__(self, name)

    recorder = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__})
    copy: Any = object.__new__(recorder)
    for name in names:
        object.__setattr__(copy, name, object.__getattribute__(section, name))
    return copy, reads


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


def check_streaming(
    component: type[Backend], section: Any, cfg: ExperimentConfig, devices: Sequence[Device]
) -> None:
    """For a backend with ``serves = True``: load it, serve a few requests (different
    lengths, two in flight) through llem.load.generator, check what came back, close."""
    if not component.serves:
        return
    from llem.config.schema import LoadConfig
    from llem.interfaces import TokenChunk
    from llem.load.generator import ServingLoop

    load = LoadConfig(mode="serving", arrival="concurrency", concurrency=2, warmup_requests=0)
    cfg = attrs.evolve(cfg, load=load)  # the backend loads knowing it will serve
    backend = component(section)
    backend.load(cfg, devices)
    gen = cfg.generation
    try:
        top = int(backend.vocab_size or 2)
        requests = [
            attrs.evolve(r, max_new_tokens=max(1, gen.max_new_tokens - i))
            for i, r in enumerate(
                synthetic_requests(3, cfg.dataset.input_len, gen.max_new_tokens, top)
            )
        ]
        loop = ServingLoop(backend, gen)
        try:
            loop.start()
            chunks = loop.loop.run_until_complete(_chunks_of(backend, requests[0], gen))
            start = time.perf_counter_ns()
            run = loop.run(requests, None, concurrency=2)
            end = time.perf_counter_ns()
        finally:
            loop.close()
    finally:
        backend.close()
    assert chunks, "stream yielded nothing"
    assert all(isinstance(c, TokenChunk) for c in chunks), "stream must yield TokenChunks"
    assert chunks[-1].finished, "the last chunk of a stream must have finished=True"
    failed = [s.error for s in run.served if s.error]
    assert not failed, f"streams raised: {failed}"
    records = [s.record for s in run.served]
    check_records(requests, records, gen, start, end)


async def _chunks_of(backend: Backend, request: Request, gen: GenerationConfig) -> list[Any]:
    return [chunk async for chunk in backend.stream(request, gen)]


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
    check_streaming(component, section, cfg, devices)


class BackendConformance:
    """Subclass as ``Test...`` and set ``backend_class`` (and ``config`` etc.)."""

    backend_class: ClassVar[type[Backend]]
    config: ClassVar[Mapping[str, Any] | None] = None
    bad_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    model: ClassVar[str] = "builtin:tiny-llama"
    weights: ClassVar[Literal["pretrained", "random"]] = "random"
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
        check_installed("backend", self.backend_class)

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
        if _installed_or_skip("backend", self.backend_class) is not self.backend_class:
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

    def test_streams_requests_through_the_load_generator_when_it_serves(self) -> None:
        if not self.backend_class.serves:
            pytest.skip(f"{self.backend_class.__name__} does not serve (serves = False)")
        check_streaming(self.backend_class, self._section(), self._cfg(), self.devices)


# -- meters ----------------------------------------------------------------------------
def check_reading(reading: EnergyReading, meter: type[Meter], devices: Sequence[Device]) -> None:
    """A well-formed reading of a real window: every figure it gives is finite and above
    0 J (hardware never draws nothing, so 0 J is a meter that did not measure: it must
    report None and say why in ``notes``), and every device is measured or explained."""
    assert isinstance(reading, EnergyReading), f"stop() returned {reading!r}"
    assert reading.meter == meter.name, f"reading.meter {reading.meter!r} != {meter.name!r}"
    assert isinstance(reading.method, str) and reading.method
    uuids = {d.uuid for d in devices}
    if reading.gpu_j is None:
        assert reading.notes, "gpu_j is None: notes must say why"
    else:
        assert set(reading.gpu_j) <= uuids, f"gpu_j keys {set(reading.gpu_j)} not in {uuids}"
        unmeasured = sorted(uuids - set(reading.gpu_j))
        assert not unmeasured or reading.notes, (
            f"{meter.name}: no GPU energy for {unmeasured} and no note saying why"
        )
    figures: dict[str, float | None] = {f"gpu_j[{k}]": v for k, v in (reading.gpu_j or {}).items()}
    figures.update(cpu_j=reading.cpu_j, dram_j=reading.dram_j)
    for label, value in figures.items():
        if value is None:
            continue
        assert math.isfinite(value) and value > 0, (
            f"{meter.name}: {label} = {value} J over the window; hardware never draws "
            f"nothing, so this is a meter that did not measure: report None and say why in "
            f"notes (never 0 for unknown)"
        )


def check_meter(
    component: type[Meter],
    config: Mapping[str, Any] | None = None,
    *,
    devices: Sequence[Device] = (),
    window_s: float = 0.25,  # above the ~100 ms update period of GPU energy counters
    plugin: ModuleType | str | None = None,
    bad_configs: Sequence[Mapping[str, Any]] | None = None,
) -> Availability:
    """Registration, config (and ``bad_configs`` rejected, when given), probe; if the
    probe says ok, one window start..stop with a well-formed reading."""
    check_registers("meter", component, plugin)
    if bad_configs is not None:
        check_config(component, config, bad_configs)
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

    def test_entry_point_registers_the_same_class(self) -> None:
        check_installed("meter", self.meter_class)

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
    wrote: Callable[[Path], bool] | None = None,
) -> None:
    """open, write both results and the study, close; something was written (``wrote``:
    by default, a non-empty file under run_dir) and nothing outside run_dir."""
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
    assert (wrote or wrote_files)(run_dir), (
        f"the {component.name} sink wrote nothing under run_dir after two write_experiment "
        f"calls, write_study and close: a sink must write its results (one that sends "
        f"them elsewhere overrides SinkConformance.wrote to check they arrived)"
    )


def wrote_files(run_dir: Path) -> bool:
    """Whether a non-empty file exists under ``run_dir``."""
    return any(p.is_file() and p.stat().st_size > 0 for p in Path(run_dir).rglob("*"))


class SinkConformance:
    """Subclass as ``Test...``; set ``sink_class``."""

    sink_class: ClassVar[type[Sink]]
    config: ClassVar[Mapping[str, Any] | None] = None
    bad_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    plugin: ClassVar[ModuleType | str | None] = None

    def wrote(self, run_dir: Path) -> bool:
        """Whether the sink delivered its output; default: a non-empty file under run_dir."""
        return wrote_files(run_dir)

    def test_registers_under_its_name(self) -> None:
        check_registers("sink", self.sink_class, self.plugin)

    def test_entry_point_registers_the_same_class(self) -> None:
        check_installed("sink", self.sink_class)

    def test_config_section(self) -> None:
        check_config(self.sink_class, self.config, self.bad_configs)

    def test_writes_only_under_run_dir(self, tmp_path: Path, monkeypatch: Any) -> None:
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        check_sink(self.sink_class, tmp_path / "run", self.config, self.plugin, self.wrote)
        assert not list(cwd.iterdir()), "the sink wrote into the working directory"
