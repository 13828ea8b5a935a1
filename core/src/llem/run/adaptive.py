"""``execution.cycles: auto``: more cycles only where the answer is still loose.

The study starts with the fewest cycles that give a confidence interval (3). When every
planned run is done, each configuration's 95 % BCa interval of the mean of the primary
metric (energy per output token; llem.analysis.bootstrap) is compared with
``execution.target_ci``, as a relative half-width ((high - low) / 2 / |mean|). A
configuration still wider -- or with too few successful cycles for an interval -- gets
one more cycle, until ``execution.max_cycles``; the rest stop. Rounds repeat until none
is left. The rule only reads finished results, so a resumed study carries on where it
stopped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import attrs

from llem.analysis.metrics import ENERGY_METRIC, read_metric
from llem.results.schema import ExperimentResult

PRIMARY_METRIC = ENERGY_METRIC


@attrs.frozen
class Spread:
    config_index: int
    cycles: int  # planned so far (done or failed)
    half_width: float | None  # relative; None: no interval yet


def relative_half_widths(
    values_by_config: Mapping[int, Sequence[float]],
) -> dict[int, float | None]:
    """Each configuration's relative CI half-width (None: fewer than 3 values, an
    undefined interval or a zero mean)."""
    import numpy as np

    from llem.analysis.bootstrap import MIN_CYCLES_FOR_CI, mean_intervals

    out: dict[int, float | None] = {c: None for c in values_by_config}
    by_n: dict[int, list[int]] = defaultdict(list)
    for c, values in values_by_config.items():
        if len(values) >= MIN_CYCLES_FOR_CI:
            by_n[len(values)].append(c)
    for configs in by_n.values():
        rows = np.array([values_by_config[c] for c in configs], dtype=float)
        intervals = mean_intervals(rows)
        for i, c in enumerate(configs):
            low, high, mean = intervals.low[i], intervals.high[i], rows[i].mean()
            if np.isfinite(low) and np.isfinite(high) and mean != 0:
                out[c] = float((high - low) / 2 / abs(mean))
    return out


def spreads(
    entries: Sequence[tuple[int, str]], results: Mapping[str, ExperimentResult]
) -> list[Spread]:
    """(config_index, entry id) of every planned run -> each configuration's spread."""
    planned: dict[int, int] = defaultdict(int)
    values: dict[int, list[float]] = defaultdict(list)
    for config_index, entry_id in entries:
        planned[config_index] += 1
        result = results.get(entry_id)
        if result is not None and result.status == "ok":
            value = read_metric(result, PRIMARY_METRIC)
            if value == value:  # NaN: the metric is null for this run
                values[config_index].append(value)
    widths = relative_half_widths({c: values[c] for c in planned})
    return [Spread(c, planned[c], widths[c]) for c in sorted(planned)]


def wide(spread: Spread, target: float) -> bool:
    return spread.half_width is None or spread.half_width > target


def next_round(spread_list: Sequence[Spread], target: float, max_cycles: int) -> list[Spread]:
    """The configurations that get one more cycle."""
    return [s for s in spread_list if wide(s, target) and s.cycles < max_cycles]


def stopped_at_max(spread_list: Sequence[Spread], target: float, max_cycles: int) -> list[Spread]:
    """The configurations still wider than the target that reached max_cycles."""
    return [s for s in spread_list if wide(s, target) and s.cycles >= max_cycles]
