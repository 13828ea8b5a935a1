"""Neighbours on a node, and CPU/DRAM energy only for an experiment alone on it."""

from __future__ import annotations

import attrs
import pytest
from llem.results.schema import Placement
from llem.run.isolation import neighbours, placed

from tests.fakes.study_results import make_result


def test_neighbours_are_overlapping_windows_on_the_same_node_running_ones_included():
    windows = {
        "a": ("n1", 0.0, 10.0),
        "b": ("n1", 5.0, 15.0),  # overlaps a
        "c": ("n1", 10.0, 20.0),  # starts as a ends: not a neighbour
        "d": ("n2", 0.0, 10.0),  # other node
        "e": ("n1", 9.0, None),  # still running, started before a ended
    }
    assert neighbours("a", "n1", 0.0, 10.0, windows) == ("b", "e")


def _with_cpu():  # type: ignore[no-untyped-def]
    r = make_result("h", 1)
    energy = attrs.evolve(r.energy, gpu_j=100.0, cpu_j=30.0, dram_j=5.0, total_j=135.0)
    return attrs.evolve(r, energy=energy)


def test_a_shared_node_drops_cpu_and_dram_energy_with_the_reason():
    r = placed(_with_cpu(), Placement("local", "n1", ("GPU-0",), ("b",)))
    assert r.energy.cpu_j is None and r.energy.dram_j is None
    assert r.energy.total_j == pytest.approx(100.0)
    (warning,) = [w for w in r.warnings if w.code == "shared_node"]
    assert "b ran on node n1" in warning.message and "exclusive_node" in warning.fix
    assert r.placement.neighbours == ("b",)


def test_a_node_to_itself_keeps_cpu_and_dram_energy():
    r = placed(_with_cpu(), Placement("slurm", "n1", (), (), exclusive_node=True))
    assert r.energy.cpu_j == 30.0 and r.energy.dram_j == 5.0
    assert not [w for w in r.warnings if w.code == "shared_node"]
