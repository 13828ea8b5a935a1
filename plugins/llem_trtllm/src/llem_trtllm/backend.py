"""The ``trtllm`` backend: TensorRT-LLM's LLM API, the whole workload in one call.

PyTorch flow (``tensorrt_llm.LLM``) or TensorRT engine flow
(``tensorrt_llm._tensorrt_engine.LLM``, engines cached, see engine_cache). Proven
against a fake of the API only (tests/fakes/tensorrt_llm): TensorRT-LLM could not be
installed on the GPU machine llem was measured on.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import structlog
from llem.plugin import (
    Backend,
    Device,
    ExperimentConfig,
    ExperimentFailed,
    GenerationConfig,
    Problem,
    Request,
    RequestRecord,
    TokenChunk,
    VisibleDevices,
    architectures,
    offset_ns,
)

from llem_trtllm import engine_cache
from llem_trtllm.config import MISSING_KNOBS, TrtllmConfig
from llem_trtllm.llm_args import EnginePlan, engine_plan, prompt_for, sampling_kwargs
from llem_trtllm.model_source import (
    ModelSource,
    eos_token_id,
    fingerprint,
    model_problems,
    resolve_model,
)
from llem_trtllm.timing import SOURCE_DERIVED, record_from_output, steady_now_ns

log = structlog.get_logger()
INSTALL = "pip install tensorrt_llm (NVIDIA's wheel, Linux + CUDA)"


class TrtllmBackend(Backend[TrtllmConfig]):
    """After ``load``: ``load_details`` (version, flow, start seconds, LLM arguments) and,
    for the tensorrt flow, ``engine_cache_path`` with ``load_details["engine_cache"]``
    (path, hit, key, build seconds) for the lifecycle to store."""

    name = "trtllm"
    serves = True  # LLM.generate_async(..., streaming=True) on the caller's event loop
    requires = ("tensorrt_llm",)
    install_hint = INSTALL
    missing_knobs = MISSING_KNOBS

    def __init__(self, section: TrtllmConfig | None = None) -> None:
        super().__init__(section)
        self.llm: Any = None
        self.load_details: dict[str, Any] = {}
        self.engine_cache_path: str | None = None
        self._source: ModelSource | None = None
        self._visible = VisibleDevices()
        self._end_id = -1

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        problems = [
            Problem(
                p.message,
                "see https://nvidia.github.io/TensorRT-LLM/"
                "installation/ or use backend: vllm / pytorch",
            )
            for p in super().preflight(cfg)
        ]
        world, n = self.section.world_size, len(cfg.devices)
        if world != n:
            problems.append(
                Problem(
                    f"trtllm.tensor_parallel_size x pipeline_parallel_size = {world}, but devices "
                    f"lists {n} GPU(s) {list(cfg.devices)}",
                    f"set devices to {world} GPU(s), e.g. devices: {list(range(world))}, or "
                    f"trtllm.tensor_parallel_size: {n}",
                )
            )
        problems += model_problems(cfg.model, cfg.weights)
        problems += architectures.prompt_problems(cfg.model, cfg.dataset.source, "TensorRT-LLM")
        return problems

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        try:
            self._load(cfg, devices)
        except BaseException:
            self.close()
            raise

    def _load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        self._visible.apply(devices)
        self._source = source = resolve_model(cfg.model)
        plan = engine_plan(self.section, cfg, source)
        t0 = time.perf_counter()
        import tensorrt_llm

        version = getattr(tensorrt_llm, "__version__", "unknown")
        started = time.perf_counter()
        if plan.flow == "tensorrt":
            self.llm, cache = self._engine_flow(tensorrt_llm, plan, cfg, source, version)
        else:
            self.llm, cache = tensorrt_llm.LLM(**self._kwargs(tensorrt_llm, plan)), None
        ready = time.perf_counter()
        arch = source.architecture or {}
        self.vocab_size = int(arch.get("vocab_size") or self.llm.tokenizer.vocab_size)
        self._end_id = -1 if (eos := eos_token_id(source)) is None else eos
        self.load_details = {
            "tensorrt_llm_version": version,
            "flow": plan.flow,
            "import_s": started - t0,
            "engine_start_s": ready - started,
            "cuda_visible_devices": self._visible.value,
            "llm_kwargs": {
                k: v
                for k, v in plan.kwargs.items()
                if isinstance(v, (int, float, str, bool, type(None)))
            },
        }
        if cache is not None:
            self.load_details["engine_cache"] = cache
            self.engine_cache_path = cache["path"]
        log.info(
            "trtllm.engine_started",
            flow=plan.flow,
            engine_start_s=round(ready - started, 3),
            engine_cache=cache,
        )

    def _kwargs(self, trt: Any, plan: EnginePlan, **override: Any) -> dict[str, Any]:
        from tensorrt_llm.llmapi import KvCacheConfig, QuantAlgo, QuantConfig

        kwargs = {**plan.kwargs, **override, "kv_cache_config": KvCacheConfig(**plan.kv_cache)}
        if plan.quant_algo is not None:
            kwargs["quant_config"] = QuantConfig(quant_algo=QuantAlgo(plan.quant_algo))
        return kwargs

    def _engine_flow(
        self, trt: Any, plan: EnginePlan, cfg: ExperimentConfig, source: ModelSource, version: str
    ) -> tuple[Any, dict[str, Any]]:
        from tensorrt_llm._tensorrt_engine import LLM as TrtLLM

        cache_dir = Path(self.section.engine_cache_dir or engine_cache.default_cache_dir())
        inputs = engine_cache.key_inputs(
            cfg.model,
            fingerprint(source, cfg.weights),
            cfg.weights,
            plan.dtype,
            self.section,
            version,
        )
        key = engine_cache.engine_key(inputs)
        path = engine_cache.engine_dir(cache_dir.expanduser(), cfg.model, key)
        info: dict[str, Any] = {"path": str(path), "key": key}
        if engine_cache.is_complete(path):
            runtime = {
                k: v
                for k, v in plan.kwargs.items()
                if k in ("skip_tokenizer_init", "return_perf_metrics")
            }
            if source.has_tokenizer and Path(source.model).is_dir():
                runtime["tokenizer"] = source.model
            kv = self._kwargs(trt, plan)["kv_cache_config"]
            llm = TrtLLM(model=str(path), kv_cache_config=kv, **runtime)
            return llm, {**info, "hit": True, "build_s": None}
        t = time.perf_counter()
        build = trt.BuildConfig(**(plan.build or {}))  # the engine flow always has one
        llm = TrtLLM(**self._kwargs(trt, plan, build_config=build))
        build_s = time.perf_counter() - t
        engine_cache.store(llm, path, inputs)
        log.info("trtllm.engine_cached", path=str(path), build_s=round(build_s, 3))
        return llm, {**info, "hit": False, "build_s": build_s}

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        if self.llm is None:
            raise ExperimentFailed("trtllm backend: generate() called before load()")
        from tensorrt_llm import SamplingParams

        prompts = [prompt_for(r) for r in requests]
        params = [
            SamplingParams(
                **sampling_kwargs(
                    r, gen, end_id=self._end_id, perf_metrics=self.section.request_metrics
                )
            )
            for r in requests
        ]
        offset = offset_ns(steady_now_ns())
        t0 = time.perf_counter_ns()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        t1 = time.perf_counter_ns()
        if len(outputs) != len(requests):
            raise ExperimentFailed(
                f"TensorRT-LLM returned {len(outputs)} outputs for {len(requests)} requests"
            )
        records = [
            record_from_output(r, o, offset, t0, t1) for r, o in zip(requests, outputs, strict=True)
        ]
        if records and records[0].timing_source == SOURCE_DERIVED:
            log.warning("trtllm.no_request_metrics", timing_source=SOURCE_DERIVED)
        return records

    # -- serving ------------------------------------------------------------------------
    async def start_serving(self, gen: GenerationConfig) -> None:
        """Nothing to start: the LLM's executor already runs in-flight batching in its
        background thread; each request's result queue binds to the loop it is made on,
        so one loaded LLM serves window after window."""
        if self.llm is None:
            raise ExperimentFailed("trtllm backend: start_serving() called before load()")

    async def stream(self, request: Request, gen: GenerationConfig) -> AsyncIterator[TokenChunk]:
        """One request through ``llm.generate_async(..., streaming=True)``: the result is
        an async iterator yielding itself after every response, ``outputs[0].token_ids``
        cumulative. Closing the stream early aborts the request in the executor."""
        from tensorrt_llm import SamplingParams

        kwargs = sampling_kwargs(request, gen, end_id=self._end_id, perf_metrics=False)
        try:
            result = self.llm.generate_async(
                prompt_for(request), sampling_params=SamplingParams(**kwargs), streaming=True
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            raise ExperimentFailed(f"TensorRT-LLM refused request {request.id}: {exc}") from exc
        seen = 0
        try:
            async for out in result:
                tokens = len(out.outputs[0].token_ids)
                yield TokenChunk(
                    new_tokens=tokens - seen,
                    finished=out.finished,
                    input_tokens=len(out.prompt_token_ids) if seen == 0 else None,
                )
                seen = tokens
        finally:
            if not result.finished:
                result.abort()

    async def stop_serving(self) -> None:
        """Nothing to stop: the LLM stays loaded for the next window."""

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.shutdown()
            del llm
            gc.collect()
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.empty_cache()
        self._visible.restore()
        if self._source is not None:
            self._source.cleanup()
            self._source = None
