"""Serving through vLLM's AsyncLLM, in process, on an event loop of its own.

AsyncLLM binds itself to one asyncio loop: its output handler task and its engine-core
client's queue and sockets are made on the loop that first uses them. The core runs
each measured window on a fresh loop (``asyncio.run``), and one loaded engine must serve
several windows, so the engine lives on a loop in a thread of this backend for its whole
life, and ``stream`` bridges: the request runs as a task on the engine loop, its
outputs come back to the caller's loop through ``call_soon_threadsafe`` into a queue of
that request. Nothing in ``stream`` blocks the caller's loop; cancelling it cancels the
engine-side task, which makes ``AsyncLLM.generate`` abort the request in the engine.

Each chunk is stamped (``TokenChunk.t_ns``) on the engine thread when AsyncLLM handed
the output over, before the hop to the caller's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from llem.plugin import ExperimentFailed, TokenChunk

T = TypeVar("T")


class EngineLoop:
    """An asyncio loop in a daemon thread; ``call`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="llem-vllm-engine-loop", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self.loop.close()


class AsyncEngine:
    """One AsyncLLM on its EngineLoop: built by ``start``, used by ``stream`` and
    ``generate_all`` from any thread or loop, stopped by ``shutdown``."""

    def __init__(self) -> None:
        self.thread = EngineLoop()
        self.engine: Any = None
        self._ids = itertools.count()

    def start(self, engine_args: dict[str, Any], stat_loggers: list[Callable]) -> Any:
        """Build the AsyncLLM inside the engine loop (so its output handler starts there)."""

        async def build() -> Any:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM

            return AsyncLLM.from_engine_args(
                AsyncEngineArgs(**engine_args), stat_loggers=stat_loggers
            )

        self.engine = self.thread.call(build())
        return self.engine

    async def stream(
        self, request_id: int, prompt: dict[str, Any], params: Any
    ) -> AsyncIterator[TokenChunk]:
        """The request's outputs as TokenChunks, on the caller's loop."""
        caller = asyncio.get_running_loop()
        chunks: asyncio.Queue[TokenChunk | BaseException] = asyncio.Queue()

        def hand_over(item: TokenChunk | BaseException) -> None:
            if not caller.is_closed():  # a stream abandoned with its loop: drop the rest
                caller.call_soon_threadsafe(chunks.put_nowait, item)

        rid = f"{request_id}-{next(self._ids)}"
        task = self.thread.submit(self._pump(rid, prompt, params, hand_over))
        try:
            while True:
                item = await chunks.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finished:
                    return
        finally:
            task.cancel()  # a no-op once the request has finished; else an abort

    async def _pump(
        self, rid: str, prompt: dict[str, Any], params: Any, hand_over: Callable[[Any], None]
    ) -> None:
        """On the engine loop: iterate AsyncLLM.generate, hand each delta over."""
        first = True
        try:
            async for out in self.engine.generate(prompt, params, rid):
                t = time.perf_counter_ns()
                prompt_ids = out.prompt_token_ids if first else None
                hand_over(
                    TokenChunk(
                        new_tokens=len(out.outputs[0].token_ids),
                        finished=bool(out.finished),
                        input_tokens=None if prompt_ids is None else len(prompt_ids),
                        t_ns=t,
                    )
                )
                first = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            hand_over(ExperimentFailed(f"vLLM request {rid}: {type(exc).__name__}: {exc}"))

    def generate_all(self, prompts: Sequence[dict[str, Any]], params: Sequence[Any]) -> list[Any]:
        """Every request at once (offline mode on a serving engine): final outputs in
        request order."""

        async def one(prompt: dict[str, Any], sp: Any) -> Any:
            final = None
            async for out in self.engine.generate(prompt, sp, f"offline-{next(self._ids)}"):
                final = out
            return final

        async def run() -> list[Any]:
            return list(
                await asyncio.gather(*(one(p, s) for p, s in zip(prompts, params, strict=True)))
            )

        return self.thread.call(run())

    def shutdown(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:

            async def stop() -> None:
                engine.shutdown()

            self.thread.call(stop())
        self.thread.close()
