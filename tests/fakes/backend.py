"""A simple backend for measurement tests: no model, timed like one, and -- with the fake
pynvml -- it makes the simulated GPUs draw power like a real run does.

Registered as backend ``fake`` through an entry point (``install``), so the spawned
worker finds it exactly as it finds a third-party plugin. Behaviour comes from its
section ``FakeBackendConfig`` (``ExperimentConfig.sections={"fake": ...}``):

- requests run in batches of ``batch_size``: a prefill of ``prefill_s`` (the GPUs draw
  ``prefill_power_w``), then ``max_new_tokens - 1`` decode steps of ``step_s`` each
  (``decode_power_w``), then back to idle (``idle_power_w``);
- ``crash``: "sigkill" (the worker kills itself in generate), "raise", "exit" (os._exit(3)),
  "hang" (sleeps forever: for timeouts); ``fail_in``: "load" or "generate";
- ``no_first_token``: records without first-token times;
- ``child_pid_file``: load() starts a long-lived child process (as engines do) and
  writes its pid there;
- ``problem``: a preflight Problem message.

Serving (``serves = True``): a continuous-batching engine on the serving event loop, as
vLLM's AsyncLLM behaves. ``stream`` queues the request; the engine loop admits waiting
requests while fewer than ``batch_size`` run: a step that admits any is a prefill step
(``prefill_s``, one first token for each admitted request), else a decode step
(``step_s``, one token for every running request). Each step is reported through
``engine_steps``; ``fail_request``: the request with that id raises mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from llem import Backend, Problem, RequestRecord, TokenChunk, hookimpl
from llem.interfaces import EngineStep

from tests.fakes.dist_info import announce

ENTRY_POINT = "fake"


@attrs.frozen
class FakeBackendConfig:
    batch_size: int = 4
    prefill_s: float = 0.02
    step_s: float = 0.002
    idle_power_w: float = 70.0
    prefill_power_w: float = 400.0
    decode_power_w: float = 250.0
    crash: str | None = None
    fail_in: str = "generate"
    no_first_token: bool = False
    problem: str | None = None
    vocab_size: int = 1000
    num_parameters: int = 1_000_000
    load_s: float = 0.0
    records_short: bool = False
    child_pid_file: str | None = None  # start a long-lived child process, write its pid
    fail_request: int | None = None  # serving: this request id raises after its first token


def _fake_nvml() -> Any:
    module = sys.modules.get("pynvml")
    if module is None:
        try:
            import pynvml as module  # type: ignore[no-redef]
        except ImportError:
            return None
    return module if getattr(module, "FAKE_NVML", False) else None


class FakeBackend(Backend):
    name = "fake"
    config_type = FakeBackendConfig
    serves = True

    def __init__(self, section: FakeBackendConfig | None = None) -> None:
        super().__init__(section if section is not None else FakeBackendConfig())
        self.calls: list[tuple[int, int]] = []  # (requests, max_new_tokens) per generate

    def preflight(self, cfg: Any) -> list[Problem]:
        if self.section.problem:
            return [Problem(self.section.problem, fix="fix the fake")]
        return []

    def load(self, cfg: Any, devices: Sequence[Any]) -> None:
        self._crash_if("load")
        time.sleep(self.section.load_s)
        if self.section.child_pid_file:  # like an engine that runs the model in a child
            import subprocess

            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            Path(self.section.child_pid_file).write_text(str(child.pid))
        self.devices = tuple(devices)
        self.vocab_size = self.section.vocab_size
        self.num_parameters = self.section.num_parameters

    def generate(self, requests: Sequence[Any], gen: Any) -> list[RequestRecord]:
        self._crash_if("generate")
        s = self.section
        self.calls.append((len(requests), gen.max_new_tokens))
        records = []
        for start in range(0, len(requests), s.batch_size):
            batch = requests[start : start + s.batch_size]
            records += self._batch(batch)
        if s.records_short:
            records = records[:-1]
        return records

    def _batch(self, batch: Sequence[Any]) -> list[RequestRecord]:
        s = self.section
        nvml = _fake_nvml()
        t_submit = time.perf_counter_ns()
        if nvml is not None:
            nvml.set_power(None, s.prefill_power_w)
        time.sleep(s.prefill_s)
        t_first = time.perf_counter_ns()
        new_tokens = max(r.max_new_tokens for r in batch)
        if nvml is not None:
            nvml.set_power(None, s.decode_power_w)
        time.sleep(s.step_s * (new_tokens - 1))
        t_end = time.perf_counter_ns()
        if nvml is not None:
            nvml.set_power(None, s.idle_power_w)
        step = (t_end - t_first) // max(new_tokens - 1, 1)
        out = []
        for r in batch:
            times = tuple(t_first + step * i for i in range(r.max_new_tokens))
            out.append(
                RequestRecord(
                    request_id=r.id,
                    input_tokens=_input_len(r),
                    output_tokens=r.max_new_tokens,
                    t_submit_ns=t_submit,
                    t_first_token_ns=None if s.no_first_token else t_first,
                    t_end_ns=t_end,
                    token_times_ns=None if s.no_first_token else times,
                )
            )
        return out

    async def start_serving(self, gen: Any) -> None:
        self._waiting: list[tuple[Any, asyncio.Queue[TokenChunk]]] = []
        self._running: list[list[Any]] = []  # [request, its queue, tokens so far]
        self._steps: list[EngineStep] = []
        self._wake = asyncio.Event()
        self._engine = asyncio.ensure_future(self._engine_loop())

    async def stream(self, request: Any, gen: Any) -> Any:
        self._crash_if("generate")
        out: asyncio.Queue[TokenChunk] = asyncio.Queue()
        self._waiting.append((request, out))
        self._wake.set()
        while True:
            chunk = await out.get()
            if self.section.fail_request == request.id:
                raise RuntimeError(f"the fake engine failed request {request.id}")
            yield chunk
            if chunk.finished:
                return

    async def stop_serving(self) -> None:
        self._engine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._engine
        self._power(self.section.idle_power_w)

    def engine_steps(self) -> list[EngineStep] | None:
        steps, self._steps = getattr(self, "_steps", []), []
        return steps or None

    async def _engine_loop(self) -> None:
        s = self.section
        while True:
            if not self._waiting and not self._running:
                self._power(s.idle_power_w)
                self._wake.clear()
                await self._wake.wait()
                continue
            room = s.batch_size - len(self._running)
            admitted, self._waiting = self._waiting[:room], self._waiting[room:]
            if admitted:
                await self._prefill_step(admitted)
            else:
                await self._decode_step()

    async def _prefill_step(self, admitted: list[tuple[Any, Any]]) -> None:
        t_scheduled = time.perf_counter_ns()
        self._power(self.section.prefill_power_w)
        await asyncio.sleep(self.section.prefill_s)
        prompt = 0
        for request, out in admitted:
            n = _input_len(request)
            prompt += n
            done = request.max_new_tokens <= 1
            out.put_nowait(TokenChunk(1, done, n, t_scheduled_ns=t_scheduled))
            if not done:
                self._running.append([request, out, 1])
        self._steps.append(EngineStep(time.perf_counter_ns(), prompt, 0))

    async def _decode_step(self) -> None:
        self._power(self.section.decode_power_w)
        await asyncio.sleep(self.section.step_s)
        still = []
        for entry in self._running:
            request, out, made = entry
            entry[2] = made + 1
            done = entry[2] >= request.max_new_tokens
            out.put_nowait(TokenChunk(1, done))
            if not done:
                still.append(entry)
        self._steps.append(EngineStep(time.perf_counter_ns(), 0, len(self._running)))
        self._running = still

    def _power(self, watts: float) -> None:
        nvml = _fake_nvml()
        if nvml is not None:
            nvml.set_power(None, watts)

    def _crash_if(self, where: str) -> None:
        crash = self.section.crash
        if not crash or self.section.fail_in != where:
            return
        if crash == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if crash == "exit":
            os._exit(3)
        if crash == "hang":
            while True:
                time.sleep(1)
        raise RuntimeError(f"the fake backend was told to fail in {where}")


def _input_len(request: Any) -> int:
    if request.input_ids is not None:
        return len(request.input_ids)
    return len(request.prompt.split())


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(FakeBackend)


def install(site_dir: Path) -> Path:
    """Announce this module as plugin ``fake`` via a dist-info directory in ``site_dir``;
    put ``site_dir`` on sys.path (spawned workers inherit it)."""
    return announce(site_dir, "llem-fake-backend", "0.0", ENTRY_POINT, "tests.fakes.backend")
