"""vLLM's per-step token counts, for energy attribution (``Backend.engine_steps``).

A stat logger (vLLM's ``StatLoggerBase`` interface: ``record(scheduler_stats,
iteration_stats, mm_cache_stats=None, engine_idx=0)``) is called by the frontend after
every engine-core step. Where the step carries ``SchedulerStats.iteration_details``
(``enable_logging_iteration_details``, which llem turns on with request metrics), the
counts are the tokens the scheduler put into that forward pass: ``num_ctx_tokens`` (prompt
tokens, every chunk of a chunked prefill in its own step) and ``num_generation_tokens``.
Otherwise they come from ``IterationStats``: prompt tokens computed (cache hits excluded)
in the step where a request's prefill ended, and generated tokens.

Each step is stamped with ``perf_counter_ns`` when the frontend records it: the end of
the engine-core step plus the hop to this process (sub-millisecond). The offline
``LLMEngine`` records only steps that produced output, so a step that ran nothing but a
chunk of a long prompt is missed there (its tokens are not); AsyncLLM records every step.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from llem.plugin import EngineStep

SOURCE_DETAILS = "vllm SchedulerStats.iteration_details (scheduled tokens per step)"
SOURCE_ITERATION = "vllm IterationStats (prompt tokens at prefill end, generated tokens)"


class StepRecorder:
    """Collects one EngineStep per recorded engine step; thread-safe (AsyncLLM records
    on its engine thread, the worker drains on its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: list[EngineStep] = []
        self.source = ""

    # -- vLLM's StatLoggerBase interface ----------------------------------------------
    def record(
        self,
        scheduler_stats: Any,
        iteration_stats: Any,
        mm_cache_stats: Any = None,
        engine_idx: int = 0,
    ) -> None:
        t = time.perf_counter_ns()
        counts = _counts(scheduler_stats, iteration_stats)
        if counts is None:
            return
        (prefill, decode), source = counts
        if prefill == 0 and decode == 0:
            return
        with self._lock:
            self._steps.append(EngineStep(t, prefill, decode))
            self.source = source

    def log_engine_initialized(self) -> None:
        pass

    def log(self) -> None:
        pass

    def record_sleep_state(self, is_awake: int = 0, level: int = 0) -> None:
        pass

    # -- llem's side --------------------------------------------------------------------
    def factory(self, vllm_config: Any = None, engine_index: int = 0) -> StepRecorder:
        """A ``StatLoggerFactory`` (``factory(vllm_config, engine_index)``) for
        ``AsyncLLM.from_engine_args(..., stat_loggers=[recorder.factory])``."""
        return self

    def drain(self) -> list[EngineStep]:
        """The steps recorded since the last drain."""
        with self._lock:
            steps, self._steps = self._steps, []
        return steps


def _counts(scheduler_stats: Any, iteration_stats: Any) -> tuple[tuple[int, int], str] | None:
    details = getattr(scheduler_stats, "iteration_details", None)
    if details is not None:
        if getattr(details, "is_dummy", False):
            return None
        return (int(details.num_ctx_tokens), int(details.num_generation_tokens)), SOURCE_DETAILS
    if iteration_stats is None:
        return None
    prompt = getattr(iteration_stats, "prompt_token_stats", None)
    prefill = prompt.computed if prompt is not None else iteration_stats.num_prompt_tokens
    return (int(prefill), int(iteration_stats.num_generation_tokens)), SOURCE_ITERATION


def attach_offline(llm: Any, recorder: StepRecorder) -> bool:
    """Add ``recorder`` to the stat loggers of an offline ``vllm.LLM`` (whose constructor
    takes no ``stat_loggers``): its ``llm_engine.logger_manager.stat_loggers`` list is
    what ``StatLoggerManager.record`` calls each step. False when the engine keeps no
    stats (``disable_log_stats``) or has no such list."""
    manager = getattr(getattr(llm, "llm_engine", None), "logger_manager", None)
    loggers = getattr(manager, "stat_loggers", None)
    if not isinstance(loggers, list):
        return False
    loggers.append(recorder)
    return True
