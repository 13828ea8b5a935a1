"""The order a study runs its experiments in, and the pause before each.

- ``sequential``: a configuration's cycles together (A1 A2 A3 B1 B2 B3): drift between
  configurations shows up as a difference between them, so use it only when switching
  configuration is expensive.
- ``interleaved`` (default): cycle by cycle (A1 B1 C1 A2 B2 C2): slow drift (temperature,
  clocks, other tenants) spreads over every configuration instead of biasing one.
- ``shuffled``: like interleaved, but each cycle visits the configurations in its own
  random order (seeded by ``execution.seed``), so position effects average out too.

With ``execution.reuse_engine`` (llem.config.identity.engine_key), the configurations
that can share an engine are visited together within each cycle (in their first
configuration's place; shuffled: the groups shuffled, then each group's members), so
that one loaded engine serves them one after another.

Gaps: ``cycle`` between two cycles of one configuration (sequential) or at a cycle
boundary (interleaved/shuffled), ``config`` between other neighbours, none first.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal

import attrs

Gap = Literal["config", "cycle"]


@attrs.frozen
class PlannedRun:
    config_index: int  # into StudyConfig.experiments
    cycle: int  # 1-based
    gap_before: Gap | None


def plan_runs(
    n_configs: int,
    cycles: int,
    order: str,
    seed: int = 0,
    engines: Sequence[str] | None = None,
) -> tuple[PlannedRun, ...]:
    """Every configuration x cycle once, in ``order``; ``engines``: each configuration's
    engine key, to visit those that share one together (None: no grouping)."""
    groups = _groups(engines if engines is not None else [str(c) for c in range(n_configs)])
    if order == "sequential":
        pairs = [(c, k) for c in range(n_configs) for k in range(1, cycles + 1)]
    elif order == "interleaved":
        visit = [c for group in groups for c in group]
        pairs = [(c, k) for k in range(1, cycles + 1) for c in visit]
    elif order == "shuffled":
        rng = random.Random(seed)
        pairs = []
        for k in range(1, cycles + 1):
            shuffled = [list(g) for g in groups]
            rng.shuffle(shuffled)
            for group in shuffled:
                rng.shuffle(group)
                pairs.extend((c, k) for c in group)
    else:
        raise ValueError(
            f"unknown execution.order {order!r}; use sequential, interleaved or shuffled"
        )
    planned = []
    for i, (config, cycle) in enumerate(pairs):
        planned.append(
            PlannedRun(
                config, cycle, None if i == 0 else _gap(order, pairs[i - 1], (config, cycle))
            )
        )
    return tuple(planned)


def engine_groups(study: Any) -> list[str] | None:
    """Each configuration's engine key when the study shares engines, else None."""
    from llem.config.identity import engine_key

    if not study.execution.reuse_engine:
        return None
    return [engine_key(e) for e in study.experiments]


def engine_reusers(study: Any) -> set[int]:
    """Indices of the configurations that run on an engine an earlier one of the same
    cycle loaded: all but the first of each engine group, where the local executor runs
    one at a time (side by side, on Ray and on Slurm each has its own worker)."""
    ex = study.execution
    keys = engine_groups(study)
    one_at_a_time = ex.parallel == "none" or ex.isolation == "exclusive_node"
    if keys is None or ex.executor != "local" or not one_at_a_time:
        return set()
    return {i for group in _groups(keys) for i in group[1:]}


def _groups(keys: Sequence[str]) -> list[list[int]]:
    """Configuration indices grouped by equal key, groups in order of first appearance."""
    by_key: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    return list(by_key.values())


def _gap(order: str, prev: tuple[int, int], nxt: tuple[int, int]) -> Gap:
    if order == "sequential":
        return "cycle" if prev[0] == nxt[0] else "config"
    return "cycle" if prev[1] != nxt[1] else "config"


def gap_seconds(gap: Gap | None, config_gap_s: float, cycle_gap_s: float) -> float:
    if gap == "config":
        return config_gap_s
    if gap == "cycle":
        return cycle_gap_s
    return 0.0


def waits_note(
    gaps: Sequence[Gap | None],
    floors_s: Sequence[float],
    config_gap_s: float,
    cycle_gap_s: float,
) -> str | None:
    """What the runs still to do will spend waiting rather than measuring: the gaps
    between them and each one's thermal floor; None when they wait nothing. Said at the
    start of a study so that minutes of cool-down are not mistaken for a hang."""
    configs = sum(1 for g in gaps if g == "config")
    cycles = sum(1 for g in gaps if g == "cycle")
    parts = []
    if configs and config_gap_s:
        parts.append(f"{configs} x config_gap_s {config_gap_s:g} s")
    if cycles and cycle_gap_s:
        parts.append(f"{cycles} x cycle_gap_s {cycle_gap_s:g} s")
    floors = sum(floors_s)
    if floors:
        parts.append(f"{len([f for f in floors_s if f])} x warmup.thermal_floor_s")
    total = configs * config_gap_s + cycles * cycle_gap_s + floors
    if not total:
        return None
    minutes = f"{total / 60:.1f} min" if total >= 60 else f"{total:g} s"
    return (
        f"waits {minutes} in gaps and thermal floors ({', '.join(parts)}), on purpose: the "
        f"GPU cools between runs; for development, --profile quick waits none "
        f"(or set execution.config_gap_s / cycle_gap_s, warmup.thermal_floor_s)"
    )
