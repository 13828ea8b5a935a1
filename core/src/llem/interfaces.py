"""The three kinds of plugin component and the data they exchange with the core.

Times are ``time.perf_counter_ns()`` of the worker process, the same clock the telemetry
sampler stamps its samples with, so request timings and power samples align.

Components are instantiated with their config section, an instance of ``config_type``
(the defaults when the config has none), or None when the class declares no section.
What every component would otherwise repeat lives in ``_Component``: the section's
defaults, the ``requires`` check of ``missing_requirement``, ``config_type`` read from
``Backend[MyConfig]``; ``distribution`` is set by the plugin manager from the entry
point that registered the class.
"""

from __future__ import annotations

import importlib.util
import typing
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import attrs

from llem.errors import PreflightError

if TYPE_CHECKING:
    from llem.config.schema import ExperimentConfig, GenerationConfig
    from llem.results.schema import ExperimentResult, StudyResult


@attrs.frozen
class Device:
    """One GPU of the experiment, matched between CUDA and NVML by UUID/PCI bus id."""

    cuda_index: int  # index as the worker sees it (after CUDA_VISIBLE_DEVICES)
    nvml_index: int
    uuid: str
    pci_bus_id: str
    name: str
    memory_total_bytes: int


@attrs.frozen
class Request:
    """One prompt of the workload: text, or token ids (synthetic datasets)."""

    id: int
    prompt: str | None
    input_ids: tuple[int, ...] | None
    max_new_tokens: int


@attrs.frozen
class RequestRecord:
    """What happened to one request. ``timing_source`` says how t_first_token was got."""

    request_id: int
    input_tokens: int
    output_tokens: int
    t_submit_ns: int
    t_first_token_ns: int | None
    t_end_ns: int
    token_times_ns: tuple[int, ...] | None = None
    timing_source: str = "measured"


@attrs.frozen
class TokenChunk:
    """New output tokens of one streamed request, as the engine handed them over.

    The core stamps the arrival time itself when ``t_ns`` is None (the load generator's
    clock), so every engine is timed by the same code; a backend whose engine hands
    tokens over from another thread may set ``t_ns`` (perf_counter_ns) to when they
    were produced. ``input_tokens`` is the prompt length where the engine reports it
    (the core falls back to the request's own count); ``finished`` is True on the last
    chunk, which may carry zero new tokens. ``t_scheduled_ns`` (perf_counter_ns), on
    any chunk, is when the engine's scheduler first took the request in, where the
    engine reports it: the core's queueing delay is that minus the send time.
    """

    new_tokens: int
    finished: bool = False
    input_tokens: int | None = None
    t_ns: int | None = None
    t_scheduled_ns: int | None = None


@attrs.frozen
class EngineStep:
    """One scheduler step as the engine reports it: when it ended (perf_counter_ns) and
    how many prompt (prefill) and generated (decode) tokens it processed. Where a backend
    has them, attribution splits energy by these instead of by request timings."""

    t_end_ns: int
    prefill_tokens: int
    decode_tokens: int


@attrs.frozen
class EnergyReading:
    """Energy of one window from one meter.

    A component is None when the meter cannot measure it; ``notes`` then says why.
    Never zero for "unknown".
    """

    meter: str
    method: str  # e.g. energy_counter, power_integration, rapl, estimate
    gpu_j: Mapping[str, float] | None  # per device UUID
    cpu_j: float | None = None
    dram_j: float | None = None
    resolution_s: float | None = None
    co2_kg: float | None = None
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def gpu_total_j(self) -> float | None:
        return None if self.gpu_j is None else sum(self.gpu_j.values())


@attrs.frozen
class Availability:
    """Whether a meter can run here; if not, why and what to install or change."""

    ok: bool
    reason: str = ""
    fix: str = ""


class Unavailable(Exception):
    """Why something cannot be used here (``reason``) and what to do about it (``fix``):
    what a meter's checks raise, and its ``probe`` reports as an ``Availability``."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@attrs.frozen
class Problem:
    """A preflight finding that stops the experiment before any GPU work."""

    message: str
    fix: str = ""


ConfigT = TypeVar("ConfigT")


class _Component(Generic[ConfigT]):
    """What backends, meters and sinks share.

    - ``name``: what a config selects the component by, and the key of its section.
    - ``config_type``: the attrs class of its section; read from the subscript of
      ``class MyBackend(Backend[MyConfig])`` when not set. ``self.section`` is always an
      instance (the defaults when the config has no section), or None without one.
    - ``requires``: import names the component drives (``("vllm",)``); a missing one
      makes ``missing_requirement`` say so, with ``install_hint`` as the fix.
    - ``distribution``: set by the plugin manager to the distribution whose entry point
      registered the class; never set it by hand.
    """

    name: ClassVar[str]
    config_type: ClassVar[type | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    distribution: ClassVar[str] = "llem-core"
    section: ConfigT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_type" not in cls.__dict__:
            declared = _declared_config_type(cls)
            if declared is not None:
                cls.config_type = declared

    def __init__(self, section: ConfigT | None = None) -> None:
        if section is None and self.config_type is not None:
            section = self.config_type()
        self.section = section  # type: ignore[assignment]  # None only without config_type

    @classmethod
    def missing_requirement(cls) -> str | None:
        """None if what the component drives is installed, else what is missing and the
        install command. Must be cheap (importlib.util.find_spec, never an import):
        ``llem config`` calls it for every component. The default checks ``requires``."""
        missing = [m for m in cls.requires if not importable(m)]
        if not missing:
            return None
        hint = f": {cls.install_hint}" if cls.install_hint else ""
        return f"{' and '.join(missing)} not installed{hint}"


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a bare directory of
    that name, a namespace package, is not the package)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None


def _declared_config_type(cls: type) -> type | None:
    """``MyConfig`` of ``class X(Backend[MyConfig])``, if it is a class."""
    for base in cls.__dict__.get("__orig_bases__", ()):  # its own bases, not inherited
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, _Component):
            (arg,) = typing.get_args(base)
            return arg if isinstance(arg, type) else None
    return None


class Backend(_Component[ConfigT]):
    """Runs inference. Only ever instantiated inside the worker process.

    ``load`` sets ``vocab_size`` (synthetic prompts draw token ids below it) and may set
    ``num_parameters`` (for the FLOPs reference figure).

    ``preload`` names modules that workers may find already imported: they are imported
    once in a fork server that the workers are forked from (``llem.run.forkserver``),
    instead of in every worker. Only modules whose import starts no device (no CUDA or
    NVML initialisation) and no thread that a fork could leave holding a lock.
    """

    preload: ClassVar[tuple[str, ...]] = ()
    # Impactful engine knobs the section does not expose yet: engine argument -> why it
    # matters and how to set it meanwhile (``extra``); ``llem config --params`` lists them.
    missing_knobs: ClassVar[Mapping[str, str]] = {}
    vocab_size: int | None = None
    num_parameters: int | None = None

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        """Cheap checks before GPU work: packages importable, devices, memory. The
        default reports a missing requirement; extend it with ``super().preflight(cfg)``."""
        missing = self.missing_requirement()
        return [Problem(missing)] if missing else []

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        """Load model and tokenizer onto ``devices`` (empty: CPU). Timed, outside the window."""
        raise NotImplementedError

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        """Run ALL requests with the engine's own batching; one record per request."""
        raise NotImplementedError

    serves: ClassVar[bool] = False  # True when the class implements the serving methods

    async def start_serving(self, gen: GenerationConfig) -> None:
        """Called once inside the serving event loop, before any ``stream`` call: start
        the engine's async front end (an AsyncLLM, a batching manager's thread)."""

    def stream(self, request: Request, gen: GenerationConfig) -> AsyncIterator[TokenChunk]:
        """Submit ``request`` now and yield a TokenChunk whenever new tokens arrive, the
        last with ``finished=True``. Called by the core's load generator at the
        request's planned arrival time, many requests concurrently on one event loop;
        must never block the loop. Raise to fail the request (the core records it)."""
        raise NotImplementedError

    async def stop_serving(self) -> None:
        """Called once in the loop after the last request ended or was cancelled."""

    def engine_steps(self) -> Sequence[EngineStep] | None:
        """The engine's scheduler steps since the last call (offline or serving), or None
        when the engine does not report them. Called after each window."""
        return None

    def synchronize(self) -> None:
        """Wait until the device has finished all queued work."""

    def close(self) -> None:
        """Free the model and device memory."""


class Meter(_Component[ConfigT]):
    """Measures energy over a window. Power time series come from the core sampler.

    Built as ``cls(section)``, or ``cls(section, carbon=...)`` with the experiment's
    ``CarbonConfig`` (where the machine is) when the class sets ``takes_carbon``.
    Construction, ``probe`` and ``prepare`` run in a helper thread beside the backend's
    ``preflight``: they must not change process-wide state that thread relies on (e.g.
    replace sys.stdout for everyone, or install signal handlers).

    Implement ``check`` (raise ``Unavailable``); ``probe`` turns it into an
    Availability and ``require`` (for ``prepare``) into a PreflightError.
    """

    takes_carbon: ClassVar[bool] = False
    chosen_because: str | None = None  # set by the core: why energy.meter chose this meter

    def check(self, devices: Sequence[Device]) -> Any:
        """Raise ``Unavailable(reason, fix)`` when this meter cannot measure ``devices``
        here; may return what it found (``require`` hands it back). The default checks
        ``requires``."""
        missing = self.missing_requirement()
        if missing:
            raise Unavailable(missing, self.install_hint or "install what it names")

    def probe(self, devices: Sequence[Device]) -> Availability:
        """Whether the meter can measure ``devices`` here (``check``, as an answer)."""
        try:
            self.check(devices)
        except Unavailable as exc:
            return Availability(ok=False, reason=exc.reason, fix=exc.fix)
        return Availability(ok=True)

    def require(self, devices: Sequence[Device]) -> Any:
        """``check``'s result, or a PreflightError naming the meter, the reason and the fix."""
        try:
            return self.check(devices)
        except Unavailable as exc:
            raise PreflightError(f"{self.name} meter: {exc.reason}. Fix: {exc.fix}") from None

    def prepare(self, devices: Sequence[Device]) -> None:
        """Slow set-up for ``devices``, called outside the window so start/stop stay cheap."""

    def start(self, devices: Sequence[Device]) -> None:
        raise NotImplementedError

    def stop(self) -> EnergyReading:
        raise NotImplementedError


class Sink(_Component[ConfigT]):
    """Receives results as they are produced."""

    def open(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def write_experiment(self, result: ExperimentResult) -> None:
        pass

    def write_study(self, study: StudyResult) -> None:
        pass

    def close(self) -> None:
        pass
