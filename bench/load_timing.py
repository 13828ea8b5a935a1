"""Is the load generator ever the bottleneck? Planned vs actual send time at a high rate.

Drives llem's load generator (llem.load.generator.ServingLoop, the code the worker
runs) against a no-op streaming backend -- every request streams ``--tokens`` tokens
``--gap-ms`` apart, so many streams are open on the same event loop while the
scheduler sends -- with Poisson arrivals at ``--rate`` requests/s for ``--seconds``,
and prints the send error (actual - planned send time) percentiles in ms, the
achieved rate and the load average. The issue's bar: p99 < 1 ms at 500 req/s.

    python bench/load_timing.py --rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from llem import Backend, Request, TokenChunk
from llem.config.schema import GenerationConfig, LoadConfig
from llem.load.arrivals import Arrival, arrival_times
from llem.load.generator import ServingLoop
from llem.measure.performance import percentile


class NoopStreaming(Backend):
    name = "noop"
    serves = True

    def __init__(self, tokens: int, gap_s: float) -> None:
        super().__init__()
        self.tokens, self.gap_s = tokens, gap_s

    async def stream(self, request, gen):  # type: ignore[no-untyped-def]
        for i in range(self.tokens):
            await asyncio.sleep(self.gap_s)
            yield TokenChunk(1, i == self.tokens - 1, input_tokens=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--gap-ms", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = int(args.rate * args.seconds)
    times = arrival_times("poisson", args.rate, n, LoadConfig(seed=args.seed))
    requests = [Request(i, None, (1,), args.tokens) for i in range(n)]
    loop = ServingLoop(NoopStreaming(args.tokens, args.gap_ms / 1000), GenerationConfig())
    loop.start()
    load_before = os.getloadavg()
    t0, cpu0 = time.perf_counter(), time.process_time()
    run = loop.run(requests, [Arrival(t) for t in times])
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    loop.close()
    errors = sorted((s.record.t_submit_ns - s.planned_ns) / 1e6 for s in run.served)
    sends = sorted(s.record.t_submit_ns for s in run.served)
    report = {
        "requests": n,
        "offered_rps": args.rate,
        "achieved_rps": (n - 1) / ((sends[-1] - sends[0]) / 1e9),
        "send_error_ms": {
            q: round(percentile(errors, float(q[1:])), 4) for q in ("p50", "p90", "p99")
        },
        "send_error_min_ms": round(errors[0], 4),
        "send_error_max_ms": round(errors[-1], 4),
        "wall_s": round(wall, 2),
        "process_cpu_s": round(cpu, 2),  # the loop's own CPU time (spin included)
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
