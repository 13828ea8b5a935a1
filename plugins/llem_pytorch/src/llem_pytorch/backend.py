"""The ``pytorch`` backend: Transformers ``generate`` over static batches, in request order.

Each batch of ``pytorch.batch_size`` requests is padded to its longest prompt (left by
default, with an attention mask, so every row's last prompt token sits at the end) and
handed to one ``generate`` call. Generation is fixed-length by default: with
``generation.ignore_eos`` the model is given no end token at all, so every row runs to
``max_new_tokens``; otherwise end tokens are suppressed before ``min_new_tokens``
(default: ``max_new_tokens``) and a row ends at its first end token.

Timing (``timing_source="batch_streamer"``): every request of a batch is submitted when
the batch starts (before tokenisation); its k-th token time is the step clock's k-th
stamp (see ``step_clock``), its first-token time the first stamp, its end the stamp of
its last token.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from llem.plugin import (
    Backend,
    Device,
    ExperimentConfig,
    GenerationConfig,
    PreflightError,
    Problem,
    Request,
    RequestRecord,
    TokenChunk,
)

from llem_pytorch import build, continuous, model_source, preflight
from llem_pytorch.config import MISSING_KNOBS, PytorchConfig

log = structlog.get_logger()

TIMING_SOURCE = "batch_streamer"


class PytorchBackend(Backend[PytorchConfig]):
    """Transformers + PyTorch. See the module docstring for batching and timing."""

    name = "pytorch"
    serves = True  # through transformers' ContinuousBatchingManager (continuous.py)
    requires = ("torch", "transformers")
    install_hint = preflight.INSTALL_HINT
    missing_knobs = MISSING_KNOBS
    # Imported once per study in the fork server instead of in every worker: torch (2-3 s)
    # and transformers' modeling code (4-9 s, paid by the GPU memory check in preflight,
    # or else by load). Neither initialises CUDA on import (tests/gpu checks the server
    # opens no /dev/nvidia* file); PyTorch's own DataLoader forks after importing torch.
    preload = ("torch", "transformers.modeling_utils")

    def __init__(self, section: PytorchConfig | None = None) -> None:
        super().__init__(section)
        self.model: Any = None
        self.tokenizer: Any = None
        self.no_tokenizer_reason = ""
        self.device: Any = None
        self.cuda_indices: tuple[int, ...] = ()
        self.eos_ids: tuple[int, ...] = ()
        self.pad_id = 0
        # request id -> generated token ids, filled when keep_outputs is set (tests, and
        # anyone checking what a configuration generates); off: it costs host memory.
        self.keep_outputs = False
        self.outputs: dict[int, tuple[int, ...]] = {}
        self.serving = continuous.Serving(self)

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        return preflight.problems(cfg, self.section)

    # -- load ----------------------------------------------------------------------------
    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        import torch

        section: PytorchConfig = self.section
        source = model_source.resolve(cfg.model)
        dtype = build.torch_dtype(cfg.precision)
        self.cuda_indices = (
            tuple(d.cuda_index for d in devices) if torch.cuda.is_available() else ()
        )
        self.device = torch.device(f"cuda:{self.cuda_indices[0]}" if self.cuda_indices else "cpu")
        if section.cpu_threads is not None:
            torch.set_num_threads(section.cpu_threads)
        torch.manual_seed(cfg.generation.seed)
        if cfg.weights == "random":
            config = model_source.architecture(source, section.from_pretrained_kwargs)
            if len(self.cuda_indices) > 1:
                self.model = build.random_model_sharded(config, dtype, self.cuda_indices, section)
            else:
                self.model = build.random_model(
                    config, dtype, self.device, section.attn_implementation
                )
        else:
            self.model = build.pretrained_model(source, dtype, self.cuda_indices, section)
        self.model.eval()
        self.device = _input_device(self.model, self.device)
        self.tokenizer = self._load_tokenizer(source, section)
        self.vocab_size = build.vocab_size(self.model.config)
        self.num_parameters = build.count_parameters(self.model)
        self.eos_ids, self.pad_id = build.special_ids(
            self.model.generation_config, self.model.config, self.tokenizer
        )
        self._neutral_generation_defaults()
        log.info(
            "pytorch.loaded",
            model=cfg.model,
            weights=cfg.weights,
            dtype=str(dtype),
            device=str(self.device),
            parameters=self.num_parameters,
            tokenizer=self.tokenizer is not None,
        )

    def _neutral_generation_defaults(self) -> None:
        """Drop the model's own generation defaults (a pretrained generation_config.json
        may turn sampling on or set end tokens): ``generate`` merges them into any unset
        field, and what runs must be exactly what the llem config says."""
        from transformers import GenerationConfig as HfGenerationConfig

        self.model.generation_config = HfGenerationConfig()

    def _load_tokenizer(self, source: model_source.ModelSource, section: PytorchConfig) -> Any:
        if source.tokenizer is None:
            self.no_tokenizer_reason = source.no_tokenizer_reason
            return None
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(
                source.tokenizer, **model_source.hub_kwargs(section.from_pretrained_kwargs)
            )
        except Exception as exc:  # token-id workloads still run; text ones fail clearly
            self.no_tokenizer_reason = model_source.unreachable_message(
                source.model_id, "tokenizer", exc
            )
            log.warning("pytorch.no_tokenizer", model=source.model_id, reason=str(exc)[:200])
            return None

    # -- generate ------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        import torch

        if self.model is None:
            raise RuntimeError("PytorchBackend.generate called before load()")
        self._check_prompts(requests)
        if gen.do_sample:
            torch.manual_seed(gen.seed)
        if self.section.continuous_batching:
            max_new = max(r.max_new_tokens for r in requests)
            hf_gen = continuous.hf_generation_config(self, gen, max_new)
            return continuous.generate_batch(self, requests, gen, hf_gen)
        size = self.section.batch_size
        records: list[RequestRecord] = []
        with torch.inference_mode():
            for start in range(0, len(requests), size):
                records.extend(self._batch(requests[start : start + size], gen))
        return records

    def _check_prompts(self, requests: Sequence[Request]) -> None:
        if self.tokenizer is None and any(r.input_ids is None for r in requests):
            raise PreflightError(
                f"text prompts need a tokenizer and this model has none: {self.no_tokenizer_reason}"
            )

    def _batch(self, batch: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        """One ``generate`` call. A static batch has one length: requests that ask for
        different ``max_new_tokens`` all run to the largest (and report what they got)."""
        from llem_pytorch.step_clock import StepClock

        t_submit = time.perf_counter_ns()
        ids = [self._token_ids(r) for r in batch]
        input_ids, attention_mask = self._pad(ids)
        max_new = max(r.max_new_tokens for r in batch)
        clock = StepClock()
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=self._generation_config(gen, max_new),
            streamer=clock,
        )
        new = out[:, input_ids.shape[1] :].tolist()
        steps = clock.step_ns
        if len(steps) != len(new[0]):
            raise RuntimeError(f"step clock saw {len(steps)} steps for {len(new[0])} new tokens")
        records = []
        for request, prompt, row in zip(batch, ids, new, strict=True):
            n = self._output_length(row, gen)
            if self.keep_outputs:
                self.outputs[request.id] = tuple(row[:n])
            records.append(
                RequestRecord(
                    request_id=request.id,
                    input_tokens=len(prompt),
                    output_tokens=n,
                    t_submit_ns=t_submit,
                    t_first_token_ns=steps[0],
                    t_end_ns=steps[n - 1],
                    token_times_ns=tuple(steps[:n]),
                    timing_source=TIMING_SOURCE,
                )
            )
        return records

    def _token_ids(self, request: Request) -> list[int]:
        if request.input_ids is not None:
            return list(request.input_ids)
        return list(self.tokenizer(request.prompt)["input_ids"])

    def _pad(self, ids: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(x) for x in ids)
        left = self.section.padding_side == "left"
        rows, masks = [], []
        for x in ids:
            pad = [self.pad_id] * (width - len(x))
            rows.append(pad + x if left else x + pad)
            ones, zeros = [1] * len(x), [0] * (width - len(x))
            masks.append(zeros + ones if left else ones + zeros)
        return (
            torch.tensor(rows, dtype=torch.long, device=self.device),
            torch.tensor(masks, dtype=torch.long, device=self.device),
        )

    def _generation_config(self, gen: GenerationConfig, max_new: int) -> Any:
        from transformers import CompileConfig
        from transformers import GenerationConfig as HfGenerationConfig

        section: PytorchConfig = self.section
        eos = None if gen.ignore_eos or not self.eos_ids else list(self.eos_ids)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new,
            min_new_tokens=0 if eos is None else min(gen.fixed_min_new_tokens, max_new),
            do_sample=gen.do_sample,
            eos_token_id=eos,
            pad_token_id=self.pad_id,
            cache_implementation=section.effective_cache_implementation,
        )
        if gen.do_sample:
            # top_k=0: no top-k filter (transformers would otherwise apply its default of 50)
            kwargs.update(temperature=gen.temperature, top_p=gen.top_p, top_k=0)
        if section.torch_compile:
            kwargs["compile_config"] = CompileConfig(mode=section.compile_mode)
        kwargs.update(section.extra)  # checked at load: never a field set above
        return HfGenerationConfig(**kwargs)

    def _output_length(self, row: list[int], gen: GenerationConfig) -> int:
        """Tokens the model produced for a row: all of them, or up to its first end token."""
        if gen.ignore_eos or not self.eos_ids:
            return len(row)
        ends = set(self.eos_ids)
        return next((i + 1 for i, token in enumerate(row) if token in ends), len(row))

    # -- serving -------------------------------------------------------------------------
    async def start_serving(self, gen: GenerationConfig) -> None:
        """Start the manager's generation thread (off the loop: it sizes the KV cache)."""
        if self.model is None:
            raise RuntimeError("PytorchBackend.start_serving called before load()")
        hf_gen = continuous.hf_generation_config(self, gen, gen.max_new_tokens)
        eos = hf_gen.eos_token_id
        await asyncio.to_thread(self.serving.start, hf_gen, eos)

    async def stream(self, request: Request, gen: GenerationConfig) -> AsyncIterator[TokenChunk]:
        self._check_prompts([request])
        async for chunk in self.serving.stream(request, self._token_ids(request)):
            yield chunk

    async def stop_serving(self) -> None:
        await asyncio.to_thread(self.serving.stop)

    # -- the rest ------------------------------------------------------------------------
    def synchronize(self) -> None:
        import torch

        for index in self.cuda_indices:
            torch.cuda.synchronize(index)

    def close(self) -> None:
        self.serving.stop()
        destroy = getattr(self.model, "destroy_cached_continuous_batching_manager", None)
        if destroy is not None:
            destroy()  # the manager generate_batch / serving kept on the model
        self.model = None  # on the CPU this frees the model: nothing else refers to it
        self.tokenizer = None
        if self.cuda_indices:
            import torch

            # A full collection costs ~0.3 s with torch and transformers loaded; it is
            # paid where it matters: so that empty_cache() hands all GPU memory back.
            gc.collect()
            torch.cuda.empty_cache()


def _input_device(model: Any, fallback: Any) -> Any:
    """Where input ids must go: the embedding's device (the first GPU of a sharded model)."""
    try:
        return model.get_input_embeddings().weight.device
    except Exception:
        return fallback
