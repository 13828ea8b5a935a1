"""Who shared a node with an experiment, and what that means for its energy.

Experiments on one node share its CPU sockets, memory, power supply and airflow. The
GPU counters stay per GPU, but RAPL (CPU package and DRAM energy) is per socket: with
a neighbour on the node, the CPU/DRAM joules of the window are partly the neighbour's.
So they are reported only when the experiment had the node to itself, and are null
with the reason otherwise (a ``shared_node`` measurement warning names the neighbours;
``total_j`` then counts the GPUs only). Neighbours are this study's experiments whose
run on the same node overlapped this one's; other tenants of a shared cluster node are
not known to llem (use ``isolation: exclusive_node``).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from llem.results.schema import ExperimentResult, MeasurementWarning, Placement

Window = tuple[str, float, float | None]  # node, start, end (None: still running)


def neighbours(
    entry_id: str, node: str, start: float, end: float, windows: Mapping[str, Window]
) -> tuple[str, ...]:
    """Ids whose window on ``node`` overlaps [start, end] (running ones: started before
    ``end``)."""
    out = []
    for other, (other_node, other_start, other_end) in windows.items():
        if other == entry_id or other_node != node:
            continue
        if other_start < end and (other_end is None or other_end > start):
            out.append(other)
    return tuple(sorted(out))


def placed(result: ExperimentResult, placement: Placement) -> ExperimentResult:
    """``result`` with its placement, and CPU/DRAM energy dropped if the node was shared."""
    result = attrs.evolve(result, placement=placement)
    energy = result.energy
    if not placement.neighbours or energy is None:
        return result
    if energy.cpu_j is None and energy.dram_j is None:
        return result
    shown = ", ".join(placement.neighbours[:5]) + (" ..." if len(placement.neighbours) > 5 else "")
    total = energy.total_j
    if total is not None:
        total -= (energy.cpu_j or 0.0) + (energy.dram_j or 0.0)
    warning = MeasurementWarning(
        code="shared_node",
        message=f"CPU/DRAM energy is not reported: RAPL counts per socket, and {shown} ran "
        f"on node {placement.node} during this experiment",
        fix="set execution.isolation: exclusive_node to measure CPU/DRAM energy",
    )
    return attrs.evolve(
        result,
        energy=attrs.evolve(energy, cpu_j=None, dram_j=None, total_j=total),
        warnings=(*result.warnings, warning),
    )
