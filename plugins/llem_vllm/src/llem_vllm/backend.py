"""The ``vllm`` backend: vLLM's offline engine, the whole workload in one call.

One ``llm.generate`` call receives every request, so vLLM's scheduler batches them
exactly as it would in production; llem never splits the workload. Generation is
fixed-length by default (min_tokens = max_tokens, EOS ignored).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Any

import structlog
from llem.plugin import (
    Backend,
    ConfigError,
    Device,
    ExperimentConfig,
    ExperimentFailed,
    GenerationConfig,
    Problem,
    Request,
    RequestRecord,
)

from llem_vllm.config import VllmConfig
from llem_vllm.devices import VisibleDevices
from llem_vllm.engine_args import llm_kwargs, prompt_for, sampling_kwargs
from llem_vllm.model_source import (
    BUILTIN_PREFIX,
    TOKENIZER_FILES,
    ModelSource,
    count_parameters,
    model_problems,
    resolve_model,
)
from llem_vllm.shutdown import release_process_state, shutdown_engine
from llem_vllm.timing import SOURCE_DERIVED, ClockOffsets, record_from_output

log = structlog.get_logger()
INSTALL = "pip install vllm==0.26.*"
MISSING = f"vllm not installed: {INSTALL}"


class VllmBackend(Backend):
    """vLLM 0.26 (V1 engine). Attributes set by ``load`` for the lifecycle to store:
    ``load_details`` (vLLM version, engine start seconds, the LLM arguments, the
    CUDA_VISIBLE_DEVICES the engine saw) and, after each ``generate``, ``last_timing``
    (seconds spent preparing, inside ``llm.generate``, and building records)."""

    name = "vllm"
    config_type = VllmConfig

    def __init__(self, section: VllmConfig | None = None) -> None:
        super().__init__(section if section is not None else VllmConfig())
        self.llm: Any = None
        self.load_details: dict[str, Any] = {}
        self.last_timing: dict[str, float] = {}
        self._source: ModelSource | None = None
        self._visible = VisibleDevices()
        self._detokenize = False

    @classmethod
    def missing_requirement(cls) -> str | None:
        spec = importlib.util.find_spec("vllm")  # a bare directory named vllm is no vLLM
        return MISSING if spec is None or spec.origin is None else None

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        problems: list[Problem] = []
        missing = self.missing_requirement()
        if missing:
            problems.append(Problem(missing, "or: pip install 'llem-vllm[engine]'"))
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
        if cfg.dataset.source != "synthetic" and not _has_tokenizer(cfg.model):
            problems.append(
                Problem(
                    f"dataset.source {cfg.dataset.source!r} gives text prompts, but "
                    f"{cfg.model} has no tokenizer vLLM can load",
                    "use dataset.source: synthetic (token ids) or a model with a tokenizer",
                )
            )
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
        self._source = resolve_model(cfg.model, cfg.weights)
        kwargs = llm_kwargs(section, cfg, self._source)
        t0 = time.perf_counter()
        import vllm

        imported = time.perf_counter()
        _check_against_installed(kwargs)
        self.llm = vllm.LLM(**kwargs)
        started = time.perf_counter()
        self._detokenize = section.detokenize and self._source.has_tokenizer
        arch = self._source.architecture
        self.vocab_size = (
            int(arch["vocab_size"])
            if arch and "vocab_size" in arch
            else (self.llm.llm_engine.model_config.get_vocab_size())
        )
        self.num_parameters = count_parameters(arch)
        self.load_details = {
            "vllm_version": getattr(vllm, "__version__", "unknown"),
            "import_s": imported - t0,
            "engine_start_s": started - imported,
            "cuda_visible_devices": self._visible.value,
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

    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        if self.llm is None:
            raise ExperimentFailed("vllm backend: generate() called before load()")
        from vllm import SamplingParams

        t_prep = time.perf_counter_ns()
        prompts = [prompt_for(r) for r in requests]
        params = [
            SamplingParams(**sampling_kwargs(r, gen, detokenize=self._detokenize)) for r in requests
        ]
        clocks = ClockOffsets.measure()
        t0 = time.perf_counter_ns()
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

    def synchronize(self) -> None:
        """Nothing to wait for: ``llm.generate`` returns after the engine core has
        sampled every token, which reads each step's results back from the GPU."""

    def close(self) -> None:
        done: list[str] = []
        llm, self.llm = self.llm, None
        if llm is not None:
            done = shutdown_engine(llm)
            del llm
            done += release_process_state()
        self._visible.restore()
        if self._source is not None:
            self._source.cleanup()
            self._source = None
        if done:
            log.info("vllm.closed", steps=done)


def _has_tokenizer(model_id: str) -> bool:
    if model_id.startswith(BUILTIN_PREFIX):
        return False
    from pathlib import Path

    path = Path(model_id).expanduser()
    if not path.is_dir():
        return True  # a hub id: vLLM loads its tokenizer
    return any((path / f).is_file() for f in TOKENIZER_FILES)


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
