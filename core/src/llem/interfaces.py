"""The three kinds of plugin component and the data they exchange with the core.

Times are ``time.perf_counter_ns()`` of the worker process, the same clock the telemetry
sampler stamps its samples with, so request timings and power samples align.

Components are instantiated with their config section (an instance of ``config_type``
or None when the class declares none).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

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
    chunk, which may carry zero new tokens.
    """

    new_tokens: int
    finished: bool = False
    input_tokens: int | None = None
    t_ns: int | None = None


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


class _Component:
    name: ClassVar[str]
    config_type: ClassVar[type | None] = None
    distribution: ClassVar[str] = "llem-core"

    def __init__(self, section: Any = None) -> None:
        self.section = section

    @classmethod
    def missing_requirement(cls) -> str | None:
        """None if what the component drives is installed, else what is missing and the
        install command. Must be cheap (importlib.util.find_spec, never an import):
        ``llem config`` calls it for every component."""
        return None


class Backend(_Component):
    """Runs inference. Only ever instantiated inside the worker process.

    ``load`` sets ``vocab_size`` (synthetic prompts draw token ids below it) and may set
    ``num_parameters`` (for the FLOPs reference figure).

    ``preload`` names modules that workers may find already imported: they are imported
    once in a fork server that the workers are forked from (``llem.run.forkserver``),
    instead of in every worker. Only modules whose import starts no device (no CUDA or
    NVML initialisation) and no thread that a fork could leave holding a lock.
    """

    preload: ClassVar[tuple[str, ...]] = ()
    vocab_size: int | None = None
    num_parameters: int | None = None

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        """Cheap checks before GPU work: packages importable, devices, memory."""
        return []

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


class Meter(_Component):
    """Measures energy over a window. Power time series come from the core sampler.

    Built as ``cls(section)``, or ``cls(section, carbon=...)`` with the experiment's
    ``CarbonConfig`` (where the machine is) when the class sets ``takes_carbon``.
    Construction, ``probe`` and ``prepare`` run in a helper thread beside the backend's
    ``preflight``: they must not change process-wide state that thread relies on (e.g.
    replace sys.stdout for everyone, or install signal handlers).
    """

    takes_carbon: ClassVar[bool] = False

    def probe(self, devices: Sequence[Device]) -> Availability:
        raise NotImplementedError

    def prepare(self, devices: Sequence[Device]) -> None:
        """Slow set-up for ``devices``, called outside the window so start/stop stay cheap."""

    def start(self, devices: Sequence[Device]) -> None:
        raise NotImplementedError

    def stop(self) -> EnergyReading:
        raise NotImplementedError


class Sink(_Component):
    """Receives results as they are produced."""

    def open(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def write_experiment(self, result: ExperimentResult) -> None:
        pass

    def write_study(self, study: StudyResult) -> None:
        pass

    def close(self) -> None:
        pass
