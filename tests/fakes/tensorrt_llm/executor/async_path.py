"""The asynchronous half of the fake LLM API (``LLM.generate_async``).

As in TensorRT-LLM: the executor runs in-flight batching in a background thread; each
request's ``GenerationResult`` gets an asyncio queue when it was made inside a running
event loop (``has_event_loop()``), else a thread queue; every response carries the
tokens new since the last one (streaming) or all of them with the final one, and the
consumer's ``_handle_response`` extends ``outputs[0].token_ids`` (cumulative) and sets
``token_ids_diff``. ``async for out in result`` yields the result itself after each
response until it is finished; ``abort()`` cancels the request, which ends with
``finish_reason == "cancelled"``. Perf metrics are not simulated on this path.
"""

from __future__ import annotations

import asyncio
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any


def has_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@dataclass
class _Live:
    """The executor's side of one request."""

    result: Any
    ids: list[int]
    sp: Any
    streaming: bool
    rng: random.Random
    tokens: list[int] = field(default_factory=list)
    sent: int = 0
    finish_reason: str | None = None


class AsyncExecutor:
    """Background in-flight batching over at most ``max_batch`` requests."""

    def __init__(self, vocab_size: int, max_batch: int, step_s: float) -> None:
        self.vocab_size = vocab_size
        self.max_batch = max_batch
        self.step_s = step_s
        self.inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="fake-trtllm-executor", daemon=True)
        self._thread.start()

    def submit(self, live: _Live) -> None:
        self.inbox.put(("add", live))

    def abort_request(self, request_id: int) -> None:
        self.inbox.put(("abort", request_id))

    def shutdown(self) -> None:
        self.inbox.put(("stop", None))
        self._thread.join(timeout=5)

    def _run(self) -> None:
        waiting: list[_Live] = []
        active: list[_Live] = []
        while True:
            block = not (waiting or active)
            try:
                while True:
                    kind, arg = self.inbox.get(block=block)
                    block = False
                    if kind == "stop":
                        return
                    if kind == "add":
                        waiting.append(arg)
                    else:
                        for live in [x for x in waiting + active if x.result.request_id == arg]:
                            live.finish_reason = "cancelled"
            except queue.Empty:
                pass
            while waiting and len(active) < self.max_batch:
                active.append(waiting.pop(0))
            time.sleep(self.step_s)
            for live in list(active) + [x for x in waiting if x.finish_reason]:
                if live.finish_reason is None:
                    self._sample(live)
                if live.finish_reason is not None or live.streaming:
                    self._respond(live)
                if live.finish_reason is not None:
                    (active if live in active else waiting).remove(live)

    def _sample(self, live: _Live) -> None:
        token = live.rng.randrange(self.vocab_size)
        live.tokens.append(token)
        n, sp = len(live.tokens), live.sp
        if not sp.ignore_eos and token == sp.end_id and n >= (sp.min_tokens or 1):
            live.finish_reason = "stop"
        elif n >= sp.max_tokens:
            live.finish_reason = "length"

    def _respond(self, live: _Live) -> None:
        new, live.sent = live.tokens[live.sent :], len(live.tokens)
        live.result._put((new, live.finish_reason is not None, live.finish_reason))


class AsyncResultMixin:
    """generate_async's side of ``GenerationResult``."""

    def _init_async(self, executor: AsyncExecutor, streaming: bool) -> None:
        self._executor = executor
        self._streaming = streaming
        self._aborted = False
        self._loop = asyncio.get_running_loop() if has_event_loop() else None
        self.aqueue: asyncio.Queue[Any] | None = asyncio.Queue() if self._loop else None
        self.queue: queue.Queue[Any] = queue.Queue()

    def _put(self, response: Any) -> None:  # executor thread
        if self._loop is not None and self.aqueue is not None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.aqueue.put_nowait, response)
        else:
            self.queue.put(response)

    def _handle_response(self, response: Any) -> None:
        new, final, reason = response
        out = self._outputs[0]
        out._last_token_ids_len = len(out.token_ids)
        out.token_ids.extend(new)
        self._done = final
        if final:
            out.finish_reason = reason

    def abort(self) -> None:
        self._executor.abort_request(self.request_id)
        self._aborted = True

    def aborted(self) -> bool:
        return self._aborted

    def result(self, timeout: float | None = None) -> Any:
        while not self._done:
            self._handle_response(self.queue.get(timeout=timeout))
        return self

    async def _aresult_step(self) -> None:
        assert self.aqueue is not None, (
            "The asyncio event loop was not present during initialization, so async "
            "operations are not available."
        )
        self._handle_response(await self.aqueue.get())

    async def aresult(self) -> Any:
        while not self._done:
            await self._aresult_step()
        return self

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.aresult().__await__()

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        await self._aresult_step()
        return self
