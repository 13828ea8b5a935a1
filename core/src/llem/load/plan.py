"""The serving plan of an experiment: which requests, sent when.

The requests are the dataset's (``llem.measure.workload``); the arrivals come from
``llem.load.arrivals``. A trace's token lengths override the dataset's: its input
length gives a synthetic prompt of that many seeded token ids (text prompts keep their
text), its output length the request's ``max_new_tokens``. The warmup sends the first
``load.warmup_requests`` requests the same way (same arrival offsets, or the same
concurrency) and stops sending after ``load.warmup_s``, as offline warmup reuses the
first batch.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs
from llem.config.schema import LoadConfig
from llem.interfaces import Request
from llem.load.arrivals import Arrival, schedule


@attrs.frozen
class Plan:
    requests: tuple[Request, ...]
    arrivals: tuple[Arrival, ...] | None  # None: closed loop
    concurrency: int | None
    duration_s: float | None

    @property
    def offered_rate_rps(self) -> float | None:
        """Requests per second the plan offers (None in a closed loop)."""
        if self.arrivals is None or len(self.arrivals) < 2:
            return None
        span = self.arrivals[-1].at_s - self.arrivals[0].at_s
        return (len(self.arrivals) - 1) / span if span > 0 else None

    def warmup(self, load: LoadConfig) -> Plan:
        """The warmup's plan: the first ``warmup_requests`` requests, those planned
        before ``warmup_s`` (open loop) or sent before it (closed loop)."""
        n = min(load.warmup_requests, len(self.requests))
        if self.arrivals is None:
            return Plan(self.requests[:n], None, self.concurrency, load.warmup_s)
        limit = load.warmup_s
        arrivals = tuple(a for a in self.arrivals[:n] if limit is None or a.at_s < limit)
        return Plan(self.requests[: len(arrivals)], arrivals, None, limit)


def serving_plan(load: LoadConfig, requests: Sequence[Request], vocab_size: int | None) -> Plan:
    """The plan of ``load`` over ``requests`` (the dataset's num_prompts at most)."""
    arrivals = schedule(load, len(requests))
    chosen = list(requests)
    if arrivals is not None:
        chosen = [
            _with_trace_lengths(r, a, vocab_size, load.seed)
            for r, a in zip(requests, arrivals, strict=False)
        ]
    concurrency = load.concurrency if arrivals is None else None
    return Plan(
        tuple(chosen),
        None if arrivals is None else tuple(arrivals),
        concurrency,
        load.duration_s,
    )


def _with_trace_lengths(
    request: Request, arrival: Arrival, vocab_size: int | None, seed: int
) -> Request:
    if arrival.output_tokens is not None:
        request = attrs.evolve(request, max_new_tokens=arrival.output_tokens)
    if arrival.input_tokens is not None and request.input_ids is not None and vocab_size:
        rng = random.Random(f"trace-{seed}-{request.id}")
        ids = tuple(rng.randrange(vocab_size) for _ in range(arrival.input_tokens))
        request = attrs.evolve(request, input_ids=ids)
    return request
