"""The study session's loop over an executor: submit, collect, retry, record.

Entries go to the executor in plan order, as many as it has room for (one at a time
with the default local executor, which then behaves exactly as before). Each attempt
carries the pause before it (none for the session's first, the entry's config/cycle
gap otherwise, ``config_gap_s`` before a retry); the executor waits it where the
experiment runs. A failed attempt with retries left goes back to the front of the
queue. What the session records (manifest, sinks) it does through the two callbacks
``attempt_started`` and ``attempt_finished``: this loop never writes a file.

On Ctrl+C (or SIGTERM, or any error in this loop) every submitted attempt is cancelled
before the exception goes on to the session, which marks them interrupted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import attrs

from llem.results.schema import Placement
from llem.run.executors import Executor, Outcome, Pause, Started, Submission, gpus_needed
from llem.run.isolation import Window, neighbours
from llem.run.manifest import ManifestEntry
from llem.run.order import gap_seconds

POLL_S = 0.5


@attrs.define
class Attempt:
    entry: ManifestEntry
    number: int
    pause: Pause
    t0: float = 0.0


@attrs.define
class Dispatch:
    """Runs entries through ``executor`` for ``session`` (a StudySession)."""

    session: Any
    executor: Executor
    windows: dict[str, Window] = attrs.Factory(dict)
    paused_s: float = 0.0  # gaps actually waited ...
    planned_pause_s: float = 0.0  # ... and as configured (the difference: cool-down saved)
    submitted: int = 0

    def run(self, entries: Sequence[ManifestEntry], position: int) -> None:
        """Run ``entries`` to the end; ``position`` numbers the first (1-based)."""
        queue = deque(
            Attempt(e, 1, self._gap(e, first=self.submitted == 0 and i == 0))
            for i, e in enumerate(entries)
        )
        flying: dict[str, Attempt] = {}
        try:
            while queue or flying:
                wait = POLL_S if flying else 0.0
                if queue and self.executor.ready(self._submission(queue[0])):
                    attempt = queue.popleft()
                    self._submit(attempt, position, queue, flying)
                    position += attempt.number == 1
                    wait = 0.0  # collect what is done, then fill the next free slot
                for item in self.executor.poll(wait):
                    retry = self._collect(item, flying)
                    if retry is not None:
                        queue.appendleft(retry)
        except BaseException:  # Ctrl+C, SIGTERM, or a bug here: no remote work outlives us
            self.executor.cancel_all()
            raise

    def _submit(
        self, attempt: Attempt, position: int, queue: Any, flying: dict[str, Attempt]
    ) -> None:
        ex = self.session.study.execution
        rest = sum(gap_seconds(a.entry.gap_before, ex.config_gap_s, ex.cycle_gap_s) for a in queue)
        self.session.attempt_started(attempt.entry, position, attempt.number, rest)
        attempt.t0 = time.monotonic()
        flying[attempt.entry.id] = attempt
        self.submitted += 1
        self.executor.submit(self._submission(attempt))

    def _collect(self, item: Outcome | Started, flying: dict[str, Attempt]) -> Attempt | None:
        """Record a finished attempt; the retry to queue, if one is due."""
        if isinstance(item, Started):
            self.windows[item.entry_id] = (item.node, item.at, None)
            return None
        attempt = flying.pop(item.entry_id)
        duration = time.monotonic() - attempt.t0
        self.paused_s += item.paused_s
        self.planned_pause_s += item.pause_planned_s
        self.windows[item.entry_id] = (item.node, item.started, item.ended)
        placement = Placement(
            executor=self.executor.name,
            node=item.node,
            gpus=_gpu_ids(item),
            neighbours=neighbours(item.entry_id, item.node, item.started, item.ended, self.windows),
            exclusive_node=self.executor.exclusive_node,
        )
        ex = self.session.study.execution
        last = item.result.status == "ok" or attempt.number == ex.retries + 1
        self.session.attempt_finished(attempt.entry, item.result, duration, last, placement)
        if last:
            return None
        return Attempt(
            attempt.entry,
            attempt.number + 1,
            self._pause(ex.config_gap_s, "config_gap_s, before the retry"),
        )

    def _submission(self, attempt: Attempt) -> Submission:
        ex = self.session.study.execution
        cfg = self.session.study.experiments[attempt.entry.config_index]
        return Submission(
            entry_id=attempt.entry.id,
            cfg=cfg,
            cycle=attempt.entry.cycle,
            attempt=attempt.number,
            gpus=gpus_needed(cfg, ex.parallel),
            timeout_s=ex.timeout_s,
            pause=attempt.pause,
        )

    def _gap(self, entry: ManifestEntry, first: bool) -> Pause:
        ex = self.session.study.execution
        if first:
            return self._pause(0.0, "")
        seconds = gap_seconds(entry.gap_before, ex.config_gap_s, ex.cycle_gap_s)
        return self._pause(seconds, f"{entry.gap_before}_gap_s")

    def _pause(self, seconds: float, reason: str) -> Pause:
        ex = self.session.study.execution
        return Pause(seconds, reason, ex.cooldown, ex.cooldown_tolerance_c)


def _gpu_ids(outcome: Outcome) -> tuple[str, ...]:
    """The GPUs by UUID as the worker measured them, else as the executor named them."""
    env = outcome.result.environment
    if env is not None and env.gpus:
        return tuple(g.uuid for g in env.gpus)
    return tuple(g for g in outcome.gpus if g != "node")
