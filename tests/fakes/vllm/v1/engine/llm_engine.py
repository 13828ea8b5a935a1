"""A simulated V1 LLMEngine: scheduler, "GPU" steps with real sleeps, stats.

The engine core (a separate process in vLLM) runs inline here; its timestamps are
``time.monotonic()`` as vLLM's engine core stamps EngineCoreOutputs and events, and the
frontend stamps ``arrival_time`` with ``time.time()``.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllm import _llem_fake as fake
from vllm.engine.arg_utils import EngineArgs
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import RequestOutputKind, SamplingParams
from vllm.v1.engine import FinishReason
from vllm.v1.metrics.loggers import StatLoggerFactory, StatLoggerManager
from vllm.v1.metrics.stats import (
    IterationStats,
    RequestStateStats,
    SchedulerIterationDetails,
    SchedulerStats,
)

SUPPORTED_ARCHITECTURES = (
    "LlamaForCausalLM",
    "Qwen2ForCausalLM",
    "MistralForCausalLM",
    "OPTForCausalLM",
    "GPT2LMHeadModel",
)
_engine_ids = itertools.count()


@dataclass
class _Request:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    params: SamplingParams
    arrival_time: float
    stats: RequestStateStats | None
    rng: random.Random
    output_token_ids: list[int] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    sent: int = 0  # output tokens already handed out (DELTA outputs)


class _FakeTokenizer:
    """Bytes-as-tokens; stands for the HF tokenizer vLLM would load from the model dir."""

    def __init__(self, vocab_size: int, eos_token_id: int | None) -> None:
        self.vocab_size = vocab_size
        self.eos_token_id = eos_token_id

    def encode(self, text: str) -> list[int]:
        return [b % self.vocab_size for b in text.encode()] or [0]

    def decode(self, ids: list[int]) -> str:
        return " ".join(str(i) for i in ids)


def _model_config(model: str) -> dict[str, Any]:
    path = Path(model)
    if not path.is_dir():
        raise OSError(
            f"{model} is not a local folder and is not a valid model identifier listed on "
            f"'https://huggingface.co/models' (the fake vLLM is offline)"
        )
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(
            f"Invalid repository ID or local directory specified: '{model}'. No config.json found."
        )
    config = json.loads(config_file.read_text())
    archs = config.get("architectures") or []
    if not any(a in SUPPORTED_ARCHITECTURES for a in archs):
        raise ValueError(f"Model architectures {archs} are not supported for now.")
    return config


def _has_tokenizer(path: Path) -> bool:
    return any(
        (path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    )


class _ModelConfig:
    """The parts of vllm.config.ModelConfig llem reads."""

    def __init__(self, vocab_size: int, max_model_len: int) -> None:
        self.max_model_len = max_model_len
        self._vocab_size = vocab_size

    def get_vocab_size(self) -> int:
        return self._vocab_size


class _EngineCore:
    """Holds the simulated GPU memory; shut down like vLLM's engine-core process."""

    def __init__(self, world: int, utilization: float) -> None:
        self.engine_id = next(_engine_ids)
        fake.allocate(self.engine_id, range(world), utilization)
        self._finalizer = weakref.finalize(self, fake.release, self.engine_id)

    def shutdown(self) -> None:
        self._finalizer()


class LLMEngine:
    """The engine; ``core_step`` is what the engine-core process does for one step,
    ``step`` the offline frontend around it (outputs and stat loggers)."""

    def __init__(
        self, args: EngineArgs, stat_loggers: list[StatLoggerFactory] | None = None
    ) -> None:
        world = args.tensor_parallel_size * args.pipeline_parallel_size
        if world > fake.visible_gpus():
            raise ValueError(
                f"World size ({world}) is larger than the number of available GPUs "
                f"({fake.visible_gpus()}) in this node."
            )
        self.args = args
        self.log_stats = not args.disable_log_stats
        config = _model_config(args.model)
        if args.load_format != "dummy":
            files = list(Path(args.model).glob("*.safetensors")) + list(
                Path(args.model).glob("*.bin")
            )
            if not files:
                raise RuntimeError(f"Cannot find any model weights with `{args.model}`")
        self.vocab_size = int(config.get("vocab_size", 32000))
        eos = config.get("eos_token_id")
        self.eos_token_id = eos[0] if isinstance(eos, list) else eos
        derived_len = int(config.get("max_position_embeddings", 2048))
        if args.max_model_len is not None and args.max_model_len > derived_len:
            raise ValueError(
                f"User-specified max_model_len ({args.max_model_len}) is greater than the "
                f"derived max_model_len (max_position_embeddings={derived_len} in model's "
                f"config.json)."
            )
        self.max_model_len = args.max_model_len or derived_len
        self.model_config = _ModelConfig(self.vocab_size, self.max_model_len)
        self.max_num_seqs = args.max_num_seqs or 256
        self.max_num_batched_tokens = args.max_num_batched_tokens or 16384
        self.tokenizer: _FakeTokenizer | None = None
        if not args.skip_tokenizer_init:
            tok_dir = Path(args.tokenizer or args.model)
            if not _has_tokenizer(tok_dir):
                raise OSError(
                    f"Can't load tokenizer for '{tok_dir}'. Make sure it is the "
                    f"correct path to a directory containing all relevant files."
                )
            self.tokenizer = _FakeTokenizer(self.vocab_size, self.eos_token_id)
        self.engine_core = _EngineCore(world, args.gpu_memory_utilization)
        time.sleep(fake.knob("LLEM_FAKE_VLLM_START_S", 0.05))
        self._waiting: list[_Request] = []
        self._running: list[_Request] = []
        self._step_s = fake.knob("LLEM_FAKE_VLLM_STEP_S", 0.001)
        self._prefill_s = fake.knob("LLEM_FAKE_VLLM_PREFILL_S_PER_TOKEN", 2e-6)
        self._iteration_index = 0
        self.logger_manager: StatLoggerManager | None = None
        if self.log_stats:
            self.logger_manager = StatLoggerManager(
                vllm_config=args, custom_stat_loggers=stat_loggers
            )
            self.logger_manager.log_engine_initialized()

    @classmethod
    def from_engine_args(
        cls,
        engine_args: EngineArgs,
        usage_context: Any = None,
        stat_loggers: list[StatLoggerFactory] | None = None,
        enable_multiprocessing: bool = False,
    ) -> LLMEngine:
        return cls(engine_args, stat_loggers=stat_loggers)

    # -- frontend -------------------------------------------------------------------
    def get_tokenizer(self) -> _FakeTokenizer:
        if self.tokenizer is None:
            raise ValueError("Unable to get tokenizer because skip_tokenizer_init is True")
        return self.tokenizer

    def add_request(
        self,
        request_id: str,
        prompt: str | None,
        prompt_token_ids: list[int],
        params: SamplingParams,
        arrival_time: float | None = None,
    ) -> None:
        if arrival_time is None:
            arrival_time = time.time()
        self.validate_request(prompt_token_ids, params)
        stats = RequestStateStats(arrival_time=arrival_time) if self.log_stats else None
        seed = params.seed if params.seed is not None else (self.args.seed or 0)
        rng = random.Random(hash((seed, tuple(prompt_token_ids[:16]), request_id)))
        req = _Request(request_id, prompt, list(prompt_token_ids), params, arrival_time, stats, rng)
        if stats is not None:
            stats.queued_ts = time.monotonic()  # EngineCoreEvent QUEUED
        self._waiting.append(req)

    def validate_request(self, prompt_token_ids: list[int], params: SamplingParams) -> None:
        """The frontend's checks (InputProcessor): ValueError before the request is queued."""
        if not prompt_token_ids:
            raise ValueError("The decoder prompt cannot be empty")
        bad = max(prompt_token_ids)
        if bad >= self.vocab_size or min(prompt_token_ids) < 0:
            raise ValueError(f"Token id {bad} is out of vocabulary")
        if len(prompt_token_ids) >= self.max_model_len:
            raise ValueError(
                f"The decoder prompt (length {len(prompt_token_ids)}) is longer than the "
                f"maximum model length of {self.max_model_len}."
            )
        if params.detokenize and self.tokenizer is None:
            raise ValueError(
                "Cannot detokenize without a tokenizer "
                "(skip_tokenizer_init=True); set detokenize=False"
            )

    def get_num_unfinished_requests(self) -> int:
        return len(self._waiting) + len(self._running)

    def has_unfinished_requests(self) -> bool:
        return self.get_num_unfinished_requests() > 0

    def abort_request(self, request_ids: list[str], internal: bool = False) -> None:
        """Remove request_ids from the engine (waiting or running)."""
        gone = set(request_ids)
        self._waiting = [r for r in self._waiting if r.request_id not in gone]
        self._running = [r for r in self._running if r.request_id not in gone]

    def step(self) -> list[RequestOutput]:
        outputs, scheduler_stats, iteration_stats = self.core_step()
        # vLLM records when the step's EngineCoreOutputs are not empty: every step here
        # samples a token for each running request, whatever the output kind hands out
        produced = iteration_stats is not None and iteration_stats.num_generation_tokens > 0
        if self.logger_manager is not None and scheduler_stats is not None and produced:
            self.logger_manager.record(
                scheduler_stats=scheduler_stats, iteration_stats=iteration_stats
            )
        return outputs

    def core_step(self) -> tuple[list[RequestOutput], SchedulerStats | None, IterationStats | None]:
        """Schedule, "run" the model (a sleep), sample; with log_stats also the step's
        SchedulerStats (with iteration details when enabled) and IterationStats."""
        scheduled_ts = time.monotonic()
        new = self._schedule(scheduled_ts)
        prefill_tokens = sum(len(r.prompt_token_ids) for r in new)
        details = self._iteration_details(new)
        time.sleep(self._step_s + self._prefill_s * prefill_tokens)
        engine_core_timestamp = time.monotonic()  # EngineCoreOutputs.timestamp
        iteration = IterationStats() if self.log_stats else None
        outputs = []
        for req in list(self._running):
            is_prefilling = not req.output_token_ids
            self._sample(req)
            self._update_stats(req, is_prefilling, engine_core_timestamp)
            if iteration is not None:
                iteration.num_generation_tokens += 1
                if is_prefilling:
                    iteration.prompt_token_stats.computed += len(req.prompt_token_ids)
                    iteration.prompt_token_stats.total += len(req.prompt_token_ids)
            if req.finish_reason is not None:
                self._running.remove(req)
            out = self._make_output(req)
            if out is not None:
                outputs.append(out)
        stats = None
        if self.log_stats:
            stats = SchedulerStats(
                num_running_reqs=len(self._running),
                num_waiting_reqs=len(self._waiting),
                iteration_details=details,
            )
        return outputs, stats, iteration

    def _iteration_details(self, new: list[_Request]) -> SchedulerIterationDetails | None:
        """vllm.v1.utils.compute_iteration_details: a request is a context request when
        its prompt is (partly) scheduled this step, else a generation request."""
        if not (self.log_stats and self.args.enable_logging_iteration_details):
            return None
        decoding = [r for r in self._running if r not in new]
        details = SchedulerIterationDetails(
            iteration_index=self._iteration_index,
            num_ctx_requests=len(new),
            num_ctx_tokens=sum(len(r.prompt_token_ids) for r in new),
            num_generation_requests=len(decoding),
            num_generation_tokens=len(decoding),
            elapsed_ms=0.0,
        )
        self._iteration_index += 1
        return details

    def shutdown(self) -> None:
        self.engine_core.shutdown()

    # -- engine core ----------------------------------------------------------------
    def _schedule(self, now: float) -> list[_Request]:
        new: list[_Request] = []
        budget = self.max_num_batched_tokens - len(self._running)
        while self._waiting and len(self._running) < self.max_num_seqs:
            req = self._waiting[0]
            if new and len(req.prompt_token_ids) > budget:
                break
            self._waiting.pop(0)
            budget -= len(req.prompt_token_ids)
            if req.stats is not None and req.stats.scheduled_ts == 0.0:
                req.stats.scheduled_ts = now  # EngineCoreEvent SCHEDULED
            self._running.append(req)
            new.append(req)
        return new

    def _sample(self, req: _Request) -> None:
        p = req.params
        token = req.rng.randrange(self.vocab_size)
        req.output_token_ids.append(token)
        n = len(req.output_token_ids)
        at_max = p.max_tokens is not None and n >= p.max_tokens
        if not p.ignore_eos and token == self.eos_token_id and n >= p.min_tokens:
            req.finish_reason = FinishReason.STOP
        elif at_max or len(req.prompt_token_ids) + n >= self.max_model_len:
            req.finish_reason = FinishReason.LENGTH

    def _update_stats(self, req: _Request, is_prefilling: bool, ts: float) -> None:
        stats = req.stats
        if stats is None:
            return
        if is_prefilling:  # IterationStats.update_from_output
            stats.first_token_latency = time.time() - stats.arrival_time
            stats.first_token_ts = ts
        stats.num_generation_tokens += 1
        stats.last_token_ts = ts

    def _make_output(self, req: _Request) -> RequestOutput | None:
        finished = req.finish_reason is not None
        if not finished and req.params.output_kind == RequestOutputKind.FINAL_ONLY:
            return None
        delta = req.params.output_kind == RequestOutputKind.DELTA
        token_ids = req.output_token_ids[req.sent :] if delta else list(req.output_token_ids)
        req.sent = len(req.output_token_ids)
        text = ""
        if req.params.detokenize and self.tokenizer is not None:
            text = self.tokenizer.decode(token_ids)
        completion = CompletionOutput(
            index=0,
            text=text,
            token_ids=token_ids,
            cumulative_logprob=None,
            logprobs=None,
            finish_reason=str(req.finish_reason) if finished else None,
        )
        return RequestOutput(
            request_id=req.request_id,
            prompt=req.prompt,
            prompt_token_ids=req.prompt_token_ids,
            prompt_logprobs=None,
            outputs=[completion],
            finished=finished,
            metrics=req.stats,
            num_cached_tokens=0,
        )
