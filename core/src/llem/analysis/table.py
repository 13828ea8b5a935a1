"""Aggregates and the Pareto frontier straight from a study's results.parquet.

results.parquet (llem.results.flatten) holds one flat row per experiment x cycle with
the metrics under the names of llem.analysis.metrics; this module reads it with pyarrow
and aggregates the columns without building a result object per row, so re-analysing
a 10,000-row study takes about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from llem.analysis.aggregate import aggregate_columns
from llem.analysis.metrics import AGGREGATED_METRICS, DEFAULT_PARETO_METRIC, ENERGY_METRIC
from llem.analysis.pareto import aggregates_front
from llem.results.schema import ConfigAggregate


@attrs.frozen
class TableAnalysis:
    aggregates: tuple[ConfigAggregate, ...]
    pareto_front: tuple[str, ...]
    pareto_axes: tuple[str, str]


def analyse_parquet(
    path: Path,
    metric: str = DEFAULT_PARETO_METRIC,
    metrics: Sequence[str] = AGGREGATED_METRICS,
    *,
    seed: int = 0,
) -> TableAnalysis:
    """Aggregate ``path`` (a results.parquet) per config hash and find its frontier."""
    import pyarrow.parquet as pq

    wanted = tuple(dict.fromkeys((*metrics, ENERGY_METRIC, metric)))
    table = pq.ParquetFile(path).read()  # read_table would import pyarrow.dataset (~0.3 s)
    aggregates = aggregate_table(table, wanted, seed=seed)
    return TableAnalysis(aggregates, aggregates_front(aggregates, metric), (ENERGY_METRIC, metric))


def aggregate_table(
    table: Any, metrics: Sequence[str] = AGGREGATED_METRICS, *, seed: int = 0
) -> tuple[ConfigAggregate, ...]:
    """Aggregate a pyarrow table of flat rows (llem.results.flatten.flat_row)."""
    names = set(table.column_names)
    absent = [c for c in ("config_hash", "status", *metrics) if c not in names]
    if absent:
        raise ValueError(
            f"the table has no column(s) {', '.join(absent)}; is it a llem results.parquet?"
        )
    hashes = np.asarray(table.column("config_hash").to_numpy(zero_copy_only=False), dtype=object)
    ok = np.asarray(table.column("status").to_numpy(zero_copy_only=False)) == "ok"
    values = {m: table.column(m).to_numpy(zero_copy_only=False).astype(float) for m in metrics}
    param_columns = [c for c in table.column_names if c not in _non_param_columns()]
    first = _first_rows(hashes)
    params = {hashes[i]: {c: table.column(c)[i].as_py() for c in param_columns} for i in first}
    label = table.column("name").to_pylist() if "name" in names else [None] * len(hashes)
    return aggregate_columns(
        hashes, ok, values, names={hashes[i]: label[i] for i in first}, params=params, seed=seed
    )


def _first_rows(hashes: np.ndarray) -> list[int]:
    _, first = np.unique(hashes, return_index=True)
    return sorted(int(i) for i in first)


def _non_param_columns() -> set[str]:
    """Identity and metric columns of a flat row: every other column is a parameter."""
    from llem.results.flatten import IDENTITY, flat_row
    from llem.results.schema import ExperimentResult

    probe = ExperimentResult(
        id="x", config_hash="x", config={}, cycle=1, status="failed", started_at="", ended_at=""
    )
    return set(IDENTITY) | set(flat_row(probe, {}))
