"""Continuous batching through transformers' ``ContinuousBatchingManager``.

Two uses, one manager per loaded model:

- offline, ``pytorch.continuous_batching: true``: ``model.generate_batch(...)`` gets the
  whole workload (instead of static batches of ``batch_size``). The manager persists on
  the model (``persistent_manager=True``), so its KV cache and CUDA graphs are made by
  the first call (llem's warmup) and not inside the measured window; it is sized for
  that first workload unless ``max_batch_tokens`` / ``num_blocks`` say otherwise.
- serving: ``start`` starts the manager's generation thread; each ``stream`` registers
  a result handler (transformers calls it on the caller's event loop through
  ``call_soon_threadsafe``) and adds one streaming request; ``stop`` stops the thread
  and keeps the manager for the next window.

Times: transformers stamps every generated token with ``time.perf_counter()`` on its
generation thread (``record_timestamps``), the clock llem's ``perf_counter_ns`` reads, so
token times are when the token was produced, not when the event loop saw it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from llem.plugin import ExperimentFailed, GenerationConfig, Request, RequestRecord, TokenChunk

from llem_pytorch.config import PytorchConfig

# transformers' continuous-batching logger has a console handler of its own and inherits
# the root level: under the worker's log level it printed every scheduler step (7,700
# lines in a 4-level study on the H100). Warnings and errors still show.
logging.getLogger("ContinuousBatchingLogger").setLevel(logging.WARNING)

TIMING_SOURCE = "cb_token_timestamps"
_CB_FIELDS = (
    "max_batch_tokens",
    "max_requests_per_batch",
    "max_memory_percent",
    "num_blocks",
    "use_cuda_graph",
    "use_async_batching",
)


def cb_config(section: PytorchConfig) -> Any:
    """transformers' ContinuousBatchingConfig from the section (None fields: its defaults)."""
    from transformers import ContinuousBatchingConfig

    kwargs = {f: getattr(section, f) for f in _CB_FIELDS if getattr(section, f) is not None}
    return ContinuousBatchingConfig(scheduler_type=section.scheduler, **kwargs)


def hf_generation_config(backend: Any, gen: GenerationConfig, max_new: int) -> Any:
    """The GenerationConfig continuous batching runs with: no end token (-1) when
    ``generation.ignore_eos``, else the model's; continuous batching has no min-length
    processor, so ``preflight`` refuses end tokens with a minimum length."""
    from transformers import GenerationConfig as HfGenerationConfig

    eos = -1 if gen.ignore_eos or not backend.eos_ids else list(backend.eos_ids)
    kwargs: dict[str, Any] = dict(
        max_new_tokens=max_new,
        do_sample=gen.do_sample,
        eos_token_id=eos,
        pad_token_id=backend.pad_id,
    )
    if gen.do_sample:
        kwargs.update(temperature=gen.temperature, top_p=gen.top_p, top_k=0)
    kwargs.update(backend.section.extra)
    return HfGenerationConfig(**kwargs)


def ns(seconds: float) -> int:
    """A ``time.perf_counter()`` stamp on the ``perf_counter_ns`` scale."""
    return round(seconds * 1e9)


def generate_batch(
    backend: Any, requests: Sequence[Request], gen: GenerationConfig, hf_gen: Any
) -> list[RequestRecord]:
    """The whole workload through ``model.generate_batch``; one record per request, in
    order. Every request runs to the largest ``max_new_tokens`` (generate_batch takes one)."""
    ids = [backend._token_ids(r) for r in requests]
    outputs = backend.model.generate_batch(
        inputs=ids,
        generation_config=hf_gen,
        continuous_batching_config=cb_config(backend.section),
        record_timestamps=True,
        progress_bar=False,
        persistent_manager=True,
    )
    results = list(outputs.values())
    failed = [o for o in results if o.error is not None]
    if len(results) != len(requests) or failed:
        why = failed[0].error if failed else f"{len(results)} results for {len(requests)} requests"
        raise ExperimentFailed(f"transformers generate_batch failed: {why}")
    return [_record(r, out, backend, gen) for r, out in zip(requests, results, strict=True)]


def _record(request: Request, out: Any, backend: Any, gen: GenerationConfig) -> RequestRecord:
    n = backend._output_length(list(out.generated_tokens), gen)
    times = tuple(ns(t) for t in out.timestamps[:n])
    if backend.keep_outputs:
        backend.outputs[request.id] = tuple(out.generated_tokens[:n])
    return RequestRecord(
        request_id=request.id,
        input_tokens=len(out.prompt_ids),
        output_tokens=n,
        t_submit_ns=ns(out.created_time),
        t_first_token_ns=times[0],
        t_end_ns=times[-1],
        token_times_ns=times,
        timing_source=TIMING_SOURCE,
    )


class Serving:
    """The manager's generation thread for one serving window at a time."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.manager: Any = None
        self.eos: int | list[int] = -1
        self._ids = itertools.count()

    def start(self, hf_gen: Any, eos: int | list[int]) -> None:
        """Blocking (run it off the event loop): make or reuse the manager, start it."""
        import torch

        model = self.backend.model
        self.eos = eos
        self.manager = model.init_continuous_batching(
            generation_config=hf_gen, continuous_batching_config=cb_config(self.backend.section)
        )
        if self.backend.cuda_indices and not self.manager.warmed_up:
            self.manager.warmup()  # CUDA graphs before the first window, not inside it
        with torch.inference_mode():  # the generation thread inherits the caller's mode
            self.manager.start()

    def stop(self) -> None:
        """Blocking: stop the generation thread, keep the manager for the next window."""
        manager, self.manager = self.manager, None
        if manager is not None and manager.is_running():
            manager.stop(block=True, keep_for_next_session=True)

    async def stream(self, request: Request, input_ids: list[int]) -> AsyncIterator[TokenChunk]:
        manager = self.manager
        if manager is None or not manager.is_running():
            raise ExperimentFailed("pytorch backend: stream() outside start/stop_serving")
        outputs: asyncio.Queue[Any] = asyncio.Queue()
        rid = f"{request.id}-{next(self._ids)}"
        manager.register_result_handler(rid, outputs.put_nowait)  # before add: no race
        added = manager.add_request(
            input_ids,
            request_id=rid,
            max_new_tokens=request.max_new_tokens,
            streaming=True,
            record_timestamps=True,
            eos_token_id=self.eos,
        )
        if added is None:
            raise ExperimentFailed(f"transformers refused request {rid} (manager stopping)")
        seen, finished = 0, False
        try:
            while not finished:
                out = await outputs.get()
                if out.error is not None:
                    raise ExperimentFailed(f"transformers request {rid}: {out.error}")
                finished = out.is_finished()
                tokens = len(out.generated_tokens)
                yield TokenChunk(
                    new_tokens=tokens - seen,
                    finished=finished,
                    input_tokens=len(out.prompt_ids) if seen == 0 else None,
                    t_ns=ns(out.timestamps[-1]) if out.timestamps else time.perf_counter_ns(),
                )
                seen = tokens
        finally:
            if not finished:
                manager.cancel_request(rid)
