"""The ``echo`` backend: no model, real timing.

It "generates" by echoing each prompt's token ids back, one token per step for every
request at once (as a batching engine would), sleeping ``token_delay_ms`` per step.
Its timings are real ``time.perf_counter_ns()`` stamps, so llem's whole pipeline
(windows, TTFT, ITL, energy) runs on it. Use it to see how a backend is shaped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import attrs
from llem.plugin import (
    Backend,
    Device,
    ExperimentConfig,
    Problem,
    Request,
    RequestRecord,
    TokenChunk,
)


def _non_negative(_inst: object, attr: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"echo.{attr.name} must be >= 0, got {value}")


@attrs.frozen
class EchoConfig:
    """The ``echo:`` section of a llem config.

    - ``token_delay_ms``: time of one generation step (all requests advance together).
    - ``vocab_size``: synthetic prompts draw token ids below it.
    """

    token_delay_ms: float = attrs.field(default=1.0, validator=_non_negative)
    vocab_size: int = attrs.field(default=32_000, validator=attrs.validators.ge(2))


class EchoBackend(Backend[EchoConfig]):
    """``Backend[EchoConfig]`` makes ``EchoConfig`` the ``echo:`` section's class;
    ``self.section`` is always an ``EchoConfig`` (its defaults when the config has no
    ``echo:``). A backend that drives an engine declares it, and llem checks it is
    installed (``llem config``, preflight) before any worker starts::

        requires = ("my_engine",)
        install_hint = "pip install my-engine"
    """

    name = "echo"
    serves = True  # implements stream(): load.mode serving works with it

    def __init__(self, section: EchoConfig | None = None) -> None:
        super().__init__(section)
        self.loaded = False

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        return super().preflight(cfg)  # add checks that need the experiment here

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        self.vocab_size = self.section.vocab_size
        self.num_parameters = 0
        self.loaded = True

    def generate(self, requests: Sequence[Request], gen: object) -> list[RequestRecord]:
        if not self.loaded:
            raise RuntimeError("echo: generate() before load()")
        delay = self.section.token_delay_ms / 1000
        start = time.perf_counter_ns()
        times: dict[int, list[int]] = {r.id: [] for r in requests}
        for step in range(max((r.max_new_tokens for r in requests), default=0)):
            time.sleep(delay)
            now = time.perf_counter_ns()
            for r in requests:
                if step < r.max_new_tokens:
                    times[r.id].append(now)
        return [
            RequestRecord(
                request_id=r.id,
                input_tokens=len(r.input_ids) if r.input_ids is not None else len(r.prompt or ""),
                output_tokens=r.max_new_tokens,
                t_submit_ns=start,
                t_first_token_ns=times[r.id][0] if times[r.id] else None,
                t_end_ns=times[r.id][-1] if times[r.id] else start,
                token_times_ns=tuple(times[r.id]),
                timing_source="measured: perf_counter_ns after each echo step",
            )
            for r in requests
        ]

    async def stream(self, request: Request, gen: object) -> AsyncIterator[TokenChunk]:
        """Serving: one token per ``token_delay_ms``. Await, never block: many requests
        share this event loop (a real engine hands tokens over from its own thread or
        process, e.g. through loop.call_soon_threadsafe into an asyncio.Queue)."""
        if not self.loaded:
            raise RuntimeError("echo: stream() before load()")
        for step in range(request.max_new_tokens):
            await asyncio.sleep(self.section.token_delay_ms / 1000)
            yield TokenChunk(new_tokens=1, finished=step == request.max_new_tokens - 1)

    def close(self) -> None:
        self.loaded = False
