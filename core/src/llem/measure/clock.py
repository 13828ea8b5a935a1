"""Engine timestamps onto llem's clock (``time.perf_counter_ns()`` of the worker).

Engines stamp requests on clocks of their own (wall time, CLOCK_MONOTONIC, C++
steady_clock); a backend measures the offset right before its generate call and adds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def offset_ns(read: Callable[[], int], samples: int = 7) -> int:
    """perf_counter_ns() - read(), from the read pair with the tightest bracket; add it
    to a stamp of ``read``'s clock (ns) to get perf_counter_ns."""
    best: tuple[int, int] | None = None
    for _ in range(samples):
        a = time.perf_counter_ns()
        b = read()
        c = time.perf_counter_ns()
        if best is None or c - a < best[0]:
            best = (c - a, (a + c) // 2 - b)
    assert best is not None
    return best[1]
