"""Stat loggers as in vllm/v1/metrics/loggers.py (vLLM 0.26).

A ``StatLoggerFactory`` is called as ``factory(vllm_config, engine_index)`` and its
logger wrapped per engine; ``StatLoggerManager.record`` forwards every iteration's
``(scheduler_stats, iteration_stats, mm_cache_stats=, engine_idx=)`` to each logger in
``stat_loggers``. The default logging and Prometheus loggers are left out: they only
print.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

StatLoggerFactory = Callable[[Any, int], "StatLoggerBase"]


class StatLoggerBase(ABC):
    """Interface for logging metrics."""

    @abstractmethod
    def __init__(self, vllm_config: Any, engine_index: int = 0): ...

    @abstractmethod
    def record(
        self,
        scheduler_stats: Any,
        iteration_stats: Any,
        mm_cache_stats: Any = None,
        engine_idx: int = 0,
    ): ...

    @abstractmethod
    def log_engine_initialized(self): ...

    def log(self):  # noqa: B027 (as in vLLM)
        pass

    def record_sleep_state(self, is_awake: int, level: int):  # noqa: B027
        pass


class PerEngineStatLoggerAdapter:
    def __init__(self, vllm_config: Any, engine_indexes: list[int], factory: Any) -> None:
        self.per_engine_stat_loggers = {i: factory(vllm_config, i) for i in engine_indexes}

    def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0):
        self.per_engine_stat_loggers[engine_idx].record(
            scheduler_stats, iteration_stats, mm_cache_stats=mm_cache_stats, engine_idx=engine_idx
        )

    def log(self) -> None:
        for each in self.per_engine_stat_loggers.values():
            each.log()

    def log_engine_initialized(self) -> None:
        for each in self.per_engine_stat_loggers.values():
            each.log_engine_initialized()

    def record_sleep_state(self, sleep: int = 0, level: int = 0) -> None:
        for each in self.per_engine_stat_loggers.values():
            each.record_sleep_state(sleep, level)


class StatLoggerManager:
    def __init__(
        self,
        vllm_config: Any,
        engine_idxs: list[int] | None = None,
        custom_stat_loggers: list[StatLoggerFactory] | None = None,
        enable_default_loggers: bool = True,
        aggregate_engine_logging: bool = False,
        client_count: int = 1,
    ) -> None:
        self.engine_indexes = engine_idxs if engine_idxs else [0]
        self.stat_loggers: list[Any] = [
            PerEngineStatLoggerAdapter(vllm_config, self.engine_indexes, factory)
            for factory in custom_stat_loggers or ()
        ]

    def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=None):
        for stat_logger in self.stat_loggers:
            stat_logger.record(
                scheduler_stats,
                iteration_stats,
                mm_cache_stats=mm_cache_stats,
                engine_idx=0 if engine_idx is None else engine_idx,
            )

    def log(self) -> None:
        for stat_logger in self.stat_loggers:
            stat_logger.log()

    def log_engine_initialized(self) -> None:
        for stat_logger in self.stat_loggers:
            stat_logger.log_engine_initialized()
