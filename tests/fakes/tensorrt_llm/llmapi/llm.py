"""The LLM classes (tensorrt_llm/llmapi/llm.py) over a simulated in-flight batcher.

``_TorchLLM`` (= ``tensorrt_llm.LLM``) runs the PyTorch flow; ``_TrtLLM`` builds a
TensorRT engine from a Hugging Face directory into its workspace (or loads an engine
directory) and can ``save`` it. Iterations sleep, so every timestamp is real time.
"""

from __future__ import annotations

import datetime
import itertools
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tensorrt_llm import _llem_fake as fake
from tensorrt_llm.bindings import steady_clock_now
from tensorrt_llm.bindings.executor import RequestPerfMetrics
from tensorrt_llm.executor.async_path import AsyncExecutor, AsyncResultMixin, _Live
from tensorrt_llm.executor.result import GenerationResult
from tensorrt_llm.llmapi.llm_args import KvCacheConfig, TorchLlmArgs, TrtLlmArgs
from tensorrt_llm.sampling_params import SamplingParams
from tensorrt_llm.version import __version__

_ids = itertools.count()
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


class RequestOutput(AsyncResultMixin, GenerationResult):
    """The output of one request; made by the executor, not by users."""


def _read_config(model: Path) -> dict[str, Any]:
    if not model.is_dir() or not (model / "config.json").is_file():
        raise ValueError(
            f"Invalid model: {model} is not a local model directory with a "
            f"config.json (the fake is offline)"
        )
    return json.loads((model / "config.json").read_text())


class BaseLLM:
    def __init__(
        self,
        model: str | Path,
        tokenizer: Any = None,
        tokenizer_mode: str = "auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        revision: str | None = None,
        tokenizer_revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        backend = kwargs.get("backend")
        args_cls = TorchLlmArgs if backend == "pytorch" else TrtLlmArgs
        valid = set(args_cls.fields) | {"_mpi_session", "backend"}
        for key in kwargs:
            if key not in valid:
                raise ValueError(f"{type(self).__name__} got invalid argument: {key}")
        self.args = args_cls(
            model=model,
            tokenizer=tokenizer,
            tokenizer_mode=tokenizer_mode,
            skip_tokenizer_init=skip_tokenizer_init,
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            revision=revision,
            tokenizer_revision=tokenizer_revision,
            **kwargs,
        )
        world = tensor_parallel_size * self.args.pipeline_parallel_size
        if world > 1 and fake.visible_gpus() < world:
            raise RuntimeError(
                f"Only {fake.visible_gpus()} GPUs are available, but {world} are required."
            )
        self._world = world
        self._owner = next(_ids)
        self._executor_alive = False
        self._workspace: tempfile.TemporaryDirectory | None = None
        self._engine_dir: Path | None = None
        self._build_model()
        kv = self.args.kv_cache_config or KvCacheConfig()
        fraction = kv.free_gpu_memory_fraction or 0.9
        fake.allocate(self._owner, world, weights=1 << 28, fraction=fraction)
        self._executor_alive = True
        time.sleep(fake.knob("LLEM_FAKE_TRTLLM_START_S", 0.05))
        self._step_s = fake.knob("LLEM_FAKE_TRTLLM_STEP_S", 0.001)
        self._async: AsyncExecutor | None = None

    # -- model ------------------------------------------------------------------------
    def _hf_checks(self, model: Path) -> dict[str, Any]:
        config = _read_config(model)
        if self.args.load_format != "dummy" and not (
            list(model.glob("*.safetensors")) or list(model.glob("*.bin"))
        ):
            raise RuntimeError(f"No weight files found in {model}")
        return config

    def _set_model_info(self, config: dict[str, Any], tokenizer_dir: Path) -> None:
        pretrained = config.get("pretrained_config", config)
        self.vocab_size = int(pretrained.get("vocab_size", 32000))
        self.max_seq_len = int(
            self.args.max_seq_len or pretrained.get("max_position_embeddings", 2048)
        )
        self.tokenizer = None
        if not self.args.skip_tokenizer_init:
            if not any((tokenizer_dir / f).is_file() for f in TOKENIZER_FILES):
                raise OSError(f"Can't load tokenizer for '{tokenizer_dir}'.")
            self.tokenizer = object()

    def _build_model(self) -> None:
        raise NotImplementedError

    # -- generation -------------------------------------------------------------------
    def generate(
        self, inputs: Any, sampling_params: Any = None, use_tqdm: bool = True, **kwargs: Any
    ) -> Any:
        unbatched = not isinstance(inputs, list)
        if not unbatched and isinstance(inputs[0], int):
            unbatched = True
        batch = [inputs] if unbatched else inputs
        results = []
        for i, prompt in enumerate(batch):
            sp = sampling_params[i] if isinstance(sampling_params, list) else sampling_params
            results.append(self._submit(prompt, self._prepare_sampling_params(sp)))
        self._run(results)
        return results[0] if unbatched else results

    def generate_async(
        self,
        inputs: Any,
        sampling_params: SamplingParams | None = None,
        lora_request: Any = None,
        prompt_adapter_request: Any = None,
        streaming: bool = False,
        queries: Any = None,
        kv_cache_retention_config: Any = None,
        disaggregated_params: Any = None,
        _postproc_params: Any = None,
    ) -> RequestOutput:
        """Submit one prompt to the background executor; returns at once."""
        sp = self._prepare_sampling_params(sampling_params)
        out = self._submit(inputs, sp)  # validates: ValueError before anything runs
        out.outputs[0].request_perf_metrics = None
        if self._async is None:
            max_batch = self.args.max_batch_size or 2048
            self._async = AsyncExecutor(self.vocab_size, max_batch, self._step_s)
        out._init_async(self._async, streaming)
        self._async.submit(_Live(out, out.prompt_token_ids, sp, streaming, out._rng))
        return out

    def _prepare_sampling_params(self, sp: SamplingParams | None) -> SamplingParams:
        if sp is None:
            sp = SamplingParams()
        if not isinstance(sp, SamplingParams):
            raise TypeError(
                f"The sampling_params must be type SamplingParams or None, but got {type(sp)}"
            )
        if sp.end_id is None:
            if self.tokenizer is None:
                raise ValueError(
                    "tokenizer is required to reset end_id if it is None, or you "
                    "can explicitly specify the end_id for sampling_params"
                )
            sp.end_id = 2
        sp.return_perf_metrics = sp.return_perf_metrics or self.args.return_perf_metrics
        return sp

    def _submit(self, prompt: Any, sp: SamplingParams) -> RequestOutput:
        if not self._executor_alive:
            raise RuntimeError("LLM is shutting down")
        arrival = steady_clock_now() if self.args.return_perf_metrics else None
        if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            ids, text = list(prompt["prompt_token_ids"]), None
        elif isinstance(prompt, list):
            ids, text = list(prompt), None
        else:
            text = prompt["prompt"] if isinstance(prompt, dict) else prompt
            if self.tokenizer is None:
                raise ValueError("tokenizer is required to encode a text prompt")
            ids = [b % self.vocab_size for b in str(text).encode()] or [0]
        if max(ids) >= self.vocab_size or min(ids) < 0:
            raise ValueError(f"Token ID out of range: {max(ids)} >= vocab {self.vocab_size}")
        if len(ids) + sp.max_tokens > self.max_seq_len:
            raise ValueError(
                f"The sum of prompt length ({len(ids)}) and max_tokens "
                f"({sp.max_tokens}) should not exceed max_seq_len "
                f"({self.max_seq_len})"
            )
        out = RequestOutput(next(_ids), ids, sp, text)
        out._arrival = arrival  # type: ignore[attr-defined]
        out._rng = random.Random(hash((sp.seed or 0, tuple(ids[:16]))))  # type: ignore[attr-defined]
        if arrival is not None:
            metrics = RequestPerfMetrics()
            metrics.timing_metrics.arrival_time = arrival
            out.outputs[0].request_perf_metrics = metrics
        return out

    def _run(self, pending: list[RequestOutput]) -> None:
        max_batch = self.args.max_batch_size or 2048
        waiting, active = list(pending), []
        while waiting or active:
            while waiting and len(active) < max_batch:
                req = waiting.pop(0)
                metrics = req.outputs[0].request_perf_metrics
                if metrics is not None:
                    metrics.timing_metrics.first_scheduled_time = steady_clock_now()
                active.append(req)
            time.sleep(self._step_s)
            now = steady_clock_now()
            for req in list(active):
                self._step(req, now)
                if req.finished:
                    active.remove(req)

    def _step(self, req: RequestOutput, now: datetime.timedelta) -> None:
        out, sp = req.outputs[0], req.sampling_params
        token = req._rng.randrange(self.vocab_size)  # type: ignore[attr-defined]
        out.token_ids.append(token)
        metrics = out.request_perf_metrics
        if metrics is not None:
            if len(out.token_ids) == 1:
                metrics.timing_metrics.first_token_time = now
            metrics.timing_metrics.last_token_time = now
        n, min_tokens = len(out.token_ids), sp.min_tokens or 1
        if not sp.ignore_eos and token == sp.end_id and n >= min_tokens:
            out.finish_reason, req._done = "stop", True
        elif n >= sp.max_tokens:
            out.finish_reason, req._done = "length", True

    # -- lifetime ---------------------------------------------------------------------
    def shutdown(self) -> None:
        if getattr(self, "_async", None) is not None:
            self._async.shutdown()
            self._async = None
        if self._executor_alive:
            fake.release(self._owner)
            self._executor_alive = False
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    def __enter__(self) -> BaseLLM:
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.shutdown()
        return False

    def __del__(self) -> None:
        if getattr(self, "_executor_alive", False):
            self.shutdown()


class _TrtLLM(BaseLLM):
    """TensorRT engine flow: build (or load) an engine, run it, ``save`` it."""

    @property
    def workspace(self) -> Path:
        assert self._workspace is not None
        return Path(self._workspace.name)

    def _build_model(self) -> None:
        model = Path(self.args.model)
        config = _read_config(model)
        if "build_config" in config:  # an engine directory: load, no build
            self._engine_dir = model
            self._set_model_info(config, model)
            return
        self._hf_checks(model)
        self._workspace = tempfile.TemporaryDirectory(suffix="-llm-workspace")
        engine = self.workspace / "tmp.engine"
        engine.mkdir()
        time.sleep(fake.knob("LLEM_FAKE_TRTLLM_BUILD_S", 0.2))
        build = self.args.build_config.to_dict()
        if self.args.max_seq_len is not None:
            build["max_seq_len"] = self.args.max_seq_len
        quant = self.args.quant_config
        engine_config = {
            "version": __version__,
            "pretrained_config": {
                **config,
                "dtype": self.args.dtype,
                "mapping": {
                    "tp_size": self.args.tensor_parallel_size,
                    "pp_size": self.args.pipeline_parallel_size,
                },
                "quantization": {
                    "quant_algo": getattr(getattr(quant, "quant_algo", None), "value", None)
                },
            },
            "build_config": build,
        }
        (engine / "config.json").write_text(json.dumps(engine_config))
        for rank in range(self._world):
            (engine / f"rank{rank}.engine").write_bytes(b"fake TensorRT engine\0")
        fake.builds.append(str(engine))
        self._engine_dir = engine
        self._set_model_info(engine_config, model)

    def save(self, engine_dir: str) -> None:
        if self._engine_dir is None:
            raise RuntimeError("The engine is not built yet.")
        if self._engine_dir.absolute() == Path(engine_dir).absolute():
            return
        shutil.copytree(self._engine_dir, engine_dir, dirs_exist_ok=True)


class _TorchLLM(BaseLLM):
    """PyTorch flow: load the Hugging Face checkpoint (or random weights) and run it."""

    def __init__(
        self,
        model: str | Path,
        tokenizer: Any = None,
        tokenizer_mode: str = "auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        revision: str | None = None,
        tokenizer_revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        backend = kwargs.pop("backend", "pytorch")
        trt_only = sorted(
            k for k in kwargs if k in set(TrtLlmArgs.fields) - set(TorchLlmArgs.fields)
        )
        if trt_only:
            raise ValueError(
                f"The following arguments are specific to TensorRT backend and cannot be "
                f"used with PyTorch backend: {trt_only}.\nPlease use 'from "
                f"tensorrt_llm._tensorrt_engine import LLM' instead to use the TensorRT "
                f"backend."
            )
        super().__init__(
            model,
            tokenizer,
            tokenizer_mode,
            skip_tokenizer_init,
            trust_remote_code,
            tensor_parallel_size,
            dtype,
            revision,
            tokenizer_revision,
            backend=backend,
            **kwargs,
        )

    def _build_model(self) -> None:
        model = Path(self.args.model)
        self._set_model_info(self._hf_checks(model), model)


class LLM(_TorchLLM):
    pass
