"""A fake ``vllm`` for CPU tests: the offline API surface llem uses, no GPU, no torch.

Put ``tests/fakes`` first on ``sys.path`` / ``PYTHONPATH`` and ``import vllm`` finds this
package. It follows vLLM 0.26 (the V1 engine) where llem touches it, checked against the
vLLM sources:

- ``LLM(model, *, ..., **kwargs)`` forwards unknown keyword arguments to ``EngineArgs``,
  a dataclass, so a misspelt argument is a ``TypeError`` exactly as in vLLM; ``LLM``
  sets ``disable_log_stats=True`` unless told otherwise, and then
  ``RequestOutput.metrics`` is None (vllm/entrypoints/llm.py, output_processor.py).
- ``RequestOutput.metrics`` is a ``RequestStateStats``: ``arrival_time`` is the
  frontend's wall clock (``time.time()``), ``queued_ts``/``scheduled_ts``/
  ``first_token_ts``/``last_token_ts`` are engine-core ``time.monotonic()`` stamps
  (vllm/v1/metrics/stats.py, vllm/v1/engine/__init__.py).
- ``load_format="dummy"`` needs only ``config.json``; other formats need weight files.
- The engine "runs" continuous batching (``max_num_seqs``, ``max_num_batched_tokens``)
  with real sleeps, so every timestamp is real time.
- ``vllm.v1.engine.async_llm.AsyncLLM.from_engine_args(AsyncEngineArgs(...),
  stat_loggers=[...])``: the engine core steps in a thread of its own, outputs reach
  ONE event loop (the first that uses the engine, as vLLM's queues and sockets do);
  ``generate(prompt, sampling_params, request_id)`` streams (``RequestOutputKind.DELTA``:
  new tokens only, merged when the consumer lags), aborts on cancel, raises ValueError
  for a bad prompt and EngineDeadError after ``shutdown``.
- Stat loggers (vllm/v1/metrics/loggers.py): each step's ``SchedulerStats`` (with
  ``iteration_details`` when ``enable_logging_iteration_details``) and ``IterationStats``
  go to ``record(scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0)``
  of every logger in ``logger_manager.stat_loggers`` (offline ``LLMEngine`` and AsyncLLM).

What is fake is documented in ``vllm._llem_fake`` (speeds, simulated GPU memory).
"""

from vllm.entrypoints.llm import LLM
from vllm.inputs import TextPrompt, TokensPrompt
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import RequestOutputKind, SamplingParams
from vllm.version import __version__

__all__ = [
    "LLM",
    "CompletionOutput",
    "RequestOutput",
    "RequestOutputKind",
    "SamplingParams",
    "TextPrompt",
    "TokensPrompt",
    "__version__",
]
