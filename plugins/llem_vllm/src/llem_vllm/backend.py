"""The ``vllm`` backend: vLLM's offline engine, the whole workload in one call.

One ``llm.generate`` call receives every request, so vLLM's scheduler batches them
exactly as it would in production; llem never splits the workload. Generation is
fixed-length by default (min_tokens = max_tokens, EOS ignored).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from llem.plugin import (
    Backend,
    ConfigError,
    Device,
    EngineStep,
    ExperimentConfig,
    ExperimentFailed,
    GenerationConfig,
    Problem,
    Request,
    RequestRecord,
    TokenChunk,
    architectures,
)

from llem_vllm.config import MISSING_KNOBS, VllmConfig
from llem_vllm.devices import VisibleDevices
from llem_vllm.engine_args import llm_kwargs, prompt_for, sampling_kwargs
from llem_vllm.model_source import ModelSource, model_problems, resolve_model
from llem_vllm.serving import AsyncEngine
from llem_vllm.shutdown import release_process_state, shutdown_engine
from llem_vllm.steps import StepRecorder, attach_offline
from llem_vllm.timing import SOURCE_DERIVED, ClockOffsets, record_from_output

log = structlog.get_logger()
INSTALL = "pip install vllm==0.26.*"


class VllmBackend(Backend[VllmConfig]):
    """vLLM 0.26 (V1 engine). Attributes set by ``load`` for the lifecycle to store:
    ``load_details`` (vLLM version, engine start seconds, the LLM arguments, the
    CUDA_VISIBLE_DEVICES the engine saw) and, after each ``generate``, ``last_timing``
    (seconds spent preparing, inside ``llm.generate``, and building records)."""

    name = "vllm"
    serves = True  # load.mode serving: AsyncLLM on its own loop (see serving.py)
    requires = ("vllm",)
    install_hint = INSTALL
    missing_knobs = MISSING_KNOBS

    def __init__(self, section: VllmConfig | None = None) -> None:
        super().__init__(section)
        self.llm: Any = None
        self.serving: AsyncEngine | None = None
        self.steps = StepRecorder()
        self.steps_reported = False
        self._kwargs: dict[str, Any] = {}
        self.load_details: dict[str, Any] = {}
        self.last_timing: dict[str, float] = {}
        self._source: ModelSource | None = None
        self._visible = VisibleDevices()
        self._detokenize = False

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        engine = "or: pip install 'llem-vllm[engine]'"
        problems = [Problem(p.message, engine) for p in super().preflight(cfg)]
        world, n = self.section.world_size, len(cfg.devices)
        if world != n:
            problems.append(
                Problem(
                    f"vllm.tensor_parallel_size x pipeline_parallel_size = {world}, but "
                    f"devices lists {n} GPU(s) {list(cfg.devices)}; vLLM would run on GPUs "
                    f"llem does not measure (or on too few)",
                    f"set devices to {world} GPU(s), e.g. devices: {list(range(world))}, "
                    f"or vllm.tensor_parallel_size: {n}",
                )
            )
        problems += model_problems(cfg.model, cfg.weights)
        problems += architectures.prompt_problems(cfg.model, cfg.dataset.source, "vLLM")
        return problems

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        try:
            self._load(cfg, devices)
        except BaseException:
            self.close()
            raise

    def _load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        section = self.section
        self._visible.apply(devices)
        self._source = resolve_model(cfg.model)
        self._kwargs = kwargs = llm_kwargs(section, cfg, self._source)
        t0 = time.perf_counter()
        import vllm

        imported = time.perf_counter()
        _check_against_installed(kwargs)
        if kwargs.get("enable_logging_iteration_details"):
            # vLLM's default stat logger would print every step at INFO; llem reads them
            logging.getLogger("vllm.v1.metrics.loggers").setLevel(logging.WARNING)
        engine = self._start_engine(vllm, kwargs, serving=_serving(cfg))
        started = time.perf_counter()
        self._detokenize = section.detokenize and self._source.has_tokenizer
        arch = self._source.architecture
        self.vocab_size = (
            int(arch["vocab_size"])
            if arch and "vocab_size" in arch
            else (engine.model_config.get_vocab_size())
        )
        params = architectures.count_parameters(arch) if arch else None
        self.num_parameters = params if isinstance(params, int) else None
        self.load_details = {
            "vllm_version": getattr(vllm, "__version__", "unknown"),
            "import_s": imported - t0,
            "engine_start_s": started - imported,
            "cuda_visible_devices": self._visible.value,
            "engine": type(engine).__name__,
            "engine_steps": self.steps_reported,
            "llm_kwargs": {
                k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in kwargs.items()
            },
        }
        log.info(
            "vllm.engine_started",
            engine_start_s=round(started - imported, 3),
            model=cfg.model,
            devices=[d.cuda_index for d in devices],
            cuda_visible_devices=self._visible.value,
        )

    def _start_engine(self, vllm: Any, kwargs: dict[str, Any], *, serving: bool) -> Any:
        """The offline ``LLM``, or for serving an ``AsyncLLM`` on its own loop; either way
        with the step recorder among its stat loggers where the engine keeps stats."""
        if serving:
            self.serving = AsyncEngine()
            stat_loggers = [self.steps.factory] if not kwargs["disable_log_stats"] else []
            engine = self.serving.start(kwargs, stat_loggers)
            self.steps_reported = bool(stat_loggers)
            return engine
        self.llm = vllm.LLM(**kwargs)
        self.steps_reported = attach_offline(self.llm, self.steps)
        return self.llm.llm_engine

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        if self.llm is None and self.serving is None:
            raise ExperimentFailed("vllm backend: generate() called before load()")
        from vllm import SamplingParams

        t_prep = time.perf_counter_ns()
        prompts = [prompt_for(r) for r in requests]
        params = [
            SamplingParams(**sampling_kwargs(r, gen, detokenize=self._detokenize)) for r in requests
        ]
        clocks = ClockOffsets.measure()
        t0 = time.perf_counter_ns()
        if self.serving is not None:  # a serving engine: every request at once, final outputs
            outputs = self.serving.generate_all(prompts, [_final_only(p) for p in params])
        else:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        t1 = time.perf_counter_ns()
        if len(outputs) != len(requests):
            raise ExperimentFailed(
                f"vLLM returned {len(outputs)} outputs for {len(requests)} requests"
            )
        records = [
            record_from_output(r, out, clocks, t0, t1)
            for r, out in zip(requests, outputs, strict=True)
        ]
        t2 = time.perf_counter_ns()
        self.last_timing = {
            "prepare_s": (t0 - t_prep) / 1e9,
            "engine_s": (t1 - t0) / 1e9,
            "records_s": (t2 - t1) / 1e9,
        }
        if records and records[0].timing_source == SOURCE_DERIVED:
            log.warning("vllm.no_request_metrics", timing_source=SOURCE_DERIVED)
        return records

    # -- serving ------------------------------------------------------------------------
    async def start_serving(self, gen: GenerationConfig) -> None:
        """Nothing to start on a serving engine. An engine loaded for offline work
        (``load.mode`` offline at load) is swapped for an AsyncLLM with the same
        arguments, off the loop: one more engine start, outside any window."""
        if self.serving is not None:
            return
        if self.llm is None:
            raise ExperimentFailed("vllm backend: start_serving() called before load()")
        await asyncio.to_thread(self._restart_for_serving)

    def _restart_for_serving(self) -> None:
        import vllm

        log.warning("vllm.restart_for_serving", reason="the engine was loaded for offline work")
        t0 = time.perf_counter()
        shutdown_engine(self.llm)
        self.llm = None
        release_process_state()
        self._start_engine(vllm, self._kwargs, serving=True)
        self.load_details["restart_for_serving_s"] = time.perf_counter() - t0
        self.load_details["engine_steps"] = self.steps_reported

    async def stream(self, request: Request, gen: GenerationConfig) -> AsyncIterator[TokenChunk]:
        """One request through ``AsyncLLM.generate`` with DELTA outputs: one chunk per
        output vLLM hands over (merged ones when the caller lags)."""
        if self.serving is None:
            raise ExperimentFailed("vllm backend: stream() before a serving load()")
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(**sampling_kwargs(request, gen, detokenize=self._detokenize))
        params.output_kind = RequestOutputKind.DELTA
        async for chunk in self.serving.stream(request.id, prompt_for(request), params):
            yield chunk

    async def stop_serving(self) -> None:
        """Nothing to stop: the engine stays loaded for the next window; requests the
        core cancelled were aborted in the engine when their streams closed."""

    def engine_steps(self) -> Sequence[EngineStep] | None:
        """vLLM's per-step prompt/generated token counts since the last call (see
        steps.py), or None when the engine keeps no stats (vllm.request_metrics off)."""
        return self.steps.drain() if self.steps_reported else None

    def synchronize(self) -> None:
        """Nothing to wait for: ``llm.generate`` returns after the engine core has
        sampled every token, which reads each step's results back from the GPU."""

    def close(self) -> None:
        done: list[str] = []
        llm, self.llm = self.llm, None
        serving, self.serving = self.serving, None
        if llm is not None:
            done = shutdown_engine(llm)
        if serving is not None:
            serving.shutdown()
            done.append("AsyncLLM.shutdown")
        if done:
            del llm, serving
            done += release_process_state()
        self._visible.restore()
        if self._source is not None:
            self._source.cleanup()
            self._source = None
        if done:
            log.info("vllm.closed", steps=done)


def _serving(cfg: ExperimentConfig) -> bool:
    """Whether the experiment serves traffic (``load.mode: serving``)."""
    return cfg.load.mode == "serving"


def _final_only(params: Any) -> Any:
    from vllm.sampling_params import RequestOutputKind

    params.output_kind = RequestOutputKind.FINAL_ONLY
    return params


def _check_against_installed(kwargs: dict[str, Any]) -> None:
    """Values whose legal set depends on the installed vLLM, checked before LLM()."""
    quantization = kwargs.get("quantization")
    if quantization is None:
        return
    try:
        from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS
    except ImportError:
        return
    if quantization not in QUANTIZATION_METHODS:
        import vllm

        raise ConfigError(
            f"vllm.quantization {quantization!r} is not a method vLLM "
            f"{getattr(vllm, '__version__', '?')} knows; use one of: "
            f"{', '.join(sorted(QUANTIZATION_METHODS))}"
        )
