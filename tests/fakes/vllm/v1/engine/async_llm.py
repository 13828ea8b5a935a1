"""AsyncLLM shaped like vllm/v1/engine/async_llm.py (vLLM 0.26).

As in vLLM, the engine core runs apart from the caller (a process there, a thread
here) and its outputs reach the frontend through a queue bound to ONE asyncio event
loop: the loop that was running when the AsyncLLM was made, else the loop of the first
``generate``. The ``output_handler`` task on that loop turns engine-core outputs into
each request's RequestOutputCollector and feeds the stat loggers. Using the engine
from another loop fails, as asyncio's queues and vLLM's zmq sockets do there.

``generate(prompt, sampling_params, request_id)`` is an async generator: with
``RequestOutputKind.DELTA`` each output carries only the new tokens (merged when the
consumer lags); cancelling or closing it aborts the request in the engine core;
a bad prompt raises ValueError; after ``shutdown`` it raises EngineDeadError.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.outputs import RequestOutput
from vllm.sampling_params import SamplingParams
from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError
from vllm.v1.engine.llm_engine import LLMEngine
from vllm.v1.engine.output_processor import RequestOutputCollector
from vllm.v1.metrics.loggers import StatLoggerFactory


class _EngineCore:
    """The engine-core "process": steps the engine while it has requests and sends
    (outputs, scheduler_stats, iteration_stats) to the frontend loop."""

    def __init__(self, engine: LLMEngine) -> None:
        self.engine = engine
        self.inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.outputs: asyncio.Queue[Any] | None = None
        self.dead = False
        self._thread = threading.Thread(target=self._run, name="fake-EngineCore", daemon=True)
        self._thread.start()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.outputs = asyncio.Queue()

    def _run(self) -> None:
        while True:
            block = not self.engine.has_unfinished_requests()
            try:
                while True:
                    kind, arg = self.inbox.get(block=block, timeout=None if block else 0)
                    block = False
                    if kind == "shutdown":
                        return
                    if kind == "add":
                        self.engine.add_request(*arg)
                    else:
                        self.engine.abort_request(arg)
            except queue.Empty:
                pass
            if self.engine.has_unfinished_requests():
                step = self.engine.core_step()
                loop, outputs = self.loop, self.outputs
                if loop is not None and outputs is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(outputs.put_nowait, step)

    def shutdown(self) -> None:
        self.dead = True
        self.inbox.put(("shutdown", None))
        self._thread.join(timeout=5)
        self.engine.shutdown()


class AsyncLLM:
    def __init__(
        self,
        engine: LLMEngine,
        log_requests: bool = True,
        start_engine_loop: bool = True,
        stat_loggers: list[StatLoggerFactory] | None = None,
    ) -> None:
        self.log_requests = log_requests
        self.log_stats = engine.log_stats or bool(stat_loggers)
        self.model_config = engine.model_config
        self.logger_manager = engine.logger_manager
        self.engine_core = _EngineCore(engine)
        self.output_handler: asyncio.Task | None = None
        self._collectors: dict[str, RequestOutputCollector] = {}
        try:
            asyncio.get_running_loop()
            self._run_output_handler()
        except RuntimeError:
            pass

    @classmethod
    def from_engine_args(
        cls,
        engine_args: AsyncEngineArgs,
        start_engine_loop: bool = True,
        usage_context: Any = None,
        stat_loggers: list[StatLoggerFactory] | None = None,
    ) -> AsyncLLM:
        """Create an AsyncLLM from the EngineArgs."""
        if stat_loggers and engine_args.disable_log_stats:
            # vLLM: custom stat loggers turn stat logging on
            from dataclasses import replace

            engine_args = replace(engine_args, disable_log_stats=False)
        engine = LLMEngine(engine_args, stat_loggers=stat_loggers)
        return cls(
            engine,
            log_requests=engine_args.enable_log_requests,
            start_engine_loop=start_engine_loop,
            stat_loggers=stat_loggers,
        )

    def __del__(self) -> None:
        self.shutdown()

    def shutdown(self, timeout: float | None = None) -> None:
        """Shutdown, cleaning up the background proc and IPC."""
        core = getattr(self, "engine_core", None)
        if core is not None and not core.dead:
            core.shutdown()
        handler = getattr(self, "output_handler", None)
        if handler is not None and not handler.get_loop().is_closed():
            handler.get_loop().call_soon_threadsafe(handler.cancel)

    @property
    def is_running(self) -> bool:
        return self.output_handler is None or not self.output_handler.done()

    @property
    def errored(self) -> bool:
        return self.engine_core.dead or not self.is_running

    async def add_request(
        self,
        request_id: str,
        prompt: Any,
        params: SamplingParams,
        arrival_time: float | None = None,
    ) -> RequestOutputCollector:
        if self.errored:
            raise EngineDeadError()
        self._check_loop()
        engine = self.engine_core.engine
        text, ids = _parse(prompt, engine)
        engine.validate_request(ids, params)
        self._run_output_handler()
        collector = RequestOutputCollector(params.output_kind, request_id)
        self._collectors[request_id] = collector
        arrival = time.time() if arrival_time is None else arrival_time
        self.engine_core.inbox.put(("add", (request_id, text, ids, params, arrival)))
        return collector

    async def generate(
        self,
        prompt: Any,
        sampling_params: SamplingParams,
        request_id: str,
        *,
        prompt_text: str | None = None,
        lora_request: Any = None,
        tokenization_kwargs: dict[str, Any] | None = None,
        trace_headers: Any = None,
        priority: int = 0,
        data_parallel_rank: int | None = None,
        reasoning_ended: bool | None = None,
        reasoning_parser_kwargs: dict[str, Any] | None = None,
    ) -> AsyncGenerator[RequestOutput, None]:
        q: RequestOutputCollector | None = None
        try:
            q = await self.add_request(request_id, prompt, sampling_params)
            finished = False
            while not finished:
                out = q.get_nowait() or await q.get()
                finished = out.finished
                yield out
        except (asyncio.CancelledError, GeneratorExit):
            if q is not None:
                await self.abort(q.request_id, internal=True)
            raise
        except (EngineDeadError, ValueError):
            raise
        except Exception as e:
            if q is not None:
                await self.abort(q.request_id, internal=True)
            raise EngineGenerateError() from e
        finally:
            self._collectors.pop(request_id, None)

    async def abort(self, request_id: str | list[str], internal: bool = False) -> None:
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        for rid in ids:
            self._collectors.pop(rid, None)
        self.engine_core.inbox.put(("abort", ids))

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        bound = self.engine_core.loop
        if bound is not None and bound is not loop:
            raise RuntimeError(f"{self.engine_core.outputs!r} is bound to a different event loop")

    def _run_output_handler(self) -> None:
        if self.output_handler is not None:
            return
        core = self.engine_core
        core.bind(asyncio.get_running_loop())
        collectors = self._collectors
        logger_manager = self.logger_manager

        async def output_handler() -> None:
            assert core.outputs is not None
            while True:
                outputs, scheduler_stats, iteration_stats = await core.outputs.get()
                for out in outputs:
                    collector = collectors.get(out.request_id)
                    if collector is not None:
                        collector.put(out)
                if logger_manager is not None:
                    logger_manager.record(
                        scheduler_stats=scheduler_stats, iteration_stats=iteration_stats
                    )

        self.output_handler = asyncio.get_running_loop().create_task(output_handler())


def _parse(prompt: Any, engine: LLMEngine) -> tuple[str | None, list[int]]:
    if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
        return prompt.get("prompt"), list(prompt["prompt_token_ids"])
    text = prompt["prompt"] if isinstance(prompt, dict) else prompt
    if engine.tokenizer is None:
        raise ValueError(
            "You cannot pass text prompts when `skip_tokenizer_init=True`. "
            "Pass token ids via TokensPrompt instead."
        )
    return text, engine.tokenizer.encode(text)
