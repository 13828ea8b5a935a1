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
from vllm.v1.metrics.stats import RequestStateStats

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
    def __init__(self, args: EngineArgs) -> None:
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

    @classmethod
    def from_engine_args(cls, engine_args: EngineArgs, usage_context: Any = None) -> LLMEngine:
        return cls(engine_args)

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
        stats = RequestStateStats(arrival_time=arrival_time) if self.log_stats else None
        seed = params.seed if params.seed is not None else (self.args.seed or 0)
        rng = random.Random(hash((seed, tuple(prompt_token_ids[:16]), request_id)))
        req = _Request(request_id, prompt, list(prompt_token_ids), params, arrival_time, stats, rng)
        if stats is not None:
            stats.queued_ts = time.monotonic()  # EngineCoreEvent QUEUED
        self._waiting.append(req)

    def get_num_unfinished_requests(self) -> int:
        return len(self._waiting) + len(self._running)

    def has_unfinished_requests(self) -> bool:
        return self.get_num_unfinished_requests() > 0

    def step(self) -> list[RequestOutput]:
        scheduled_ts = time.monotonic()
        new = self._schedule(scheduled_ts)
        prefill_tokens = sum(len(r.prompt_token_ids) for r in new)
        time.sleep(self._step_s + self._prefill_s * prefill_tokens)
        engine_core_timestamp = time.monotonic()  # EngineCoreOutputs.timestamp
        outputs = []
        for req in list(self._running):
            is_prefilling = not req.output_token_ids
            self._sample(req)
            self._update_stats(req, is_prefilling, engine_core_timestamp)
            if req.finish_reason is not None:
                self._running.remove(req)
            out = self._make_output(req)
            if out is not None:
                outputs.append(out)
        return outputs

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
        text = ""
        if req.params.detokenize and self.tokenizer is not None:
            text = self.tokenizer.decode(req.output_token_ids)
        completion = CompletionOutput(
            index=0,
            text=text,
            token_ids=list(req.output_token_ids),
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
