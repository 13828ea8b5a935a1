"""Aggregating results.parquet gives what aggregating the result objects gives."""

from __future__ import annotations

import attrs
import pyarrow.parquet as pq
import pytest
from llem.analysis.aggregate import aggregate_results
from llem.analysis.pareto import pareto_front
from llem.analysis.table import analyse_parquet
from llem.results.flatten import flat_row
from llem.results.sinks import rows_to_table

from tests.fakes.study_results import make_result


def test_parquet_aggregates_equal_object_aggregates(tmp_path):
    results, params = [], {}
    for h, batch, energy, itl in (("a", 1, 1.0, 0.05), ("b", 8, 0.5, 0.02), ("c", 32, 0.7, 0.04)):
        params[h] = {"pytorch.batch_size": batch}
        for cycle in (1, 2, 3):
            results.append(
                make_result(
                    h,
                    cycle,
                    energy_per_token=energy + cycle / 100,
                    itl=itl,
                    tokens_per_second=10.0 * batch + cycle,
                )
            )
    results.append(attrs.evolve(make_result("c", 4, status="failed")))
    path = tmp_path / "results.parquet"
    pq.write_table(rows_to_table([flat_row(r, params[r.config_hash]) for r in results]), path)

    analysed = analyse_parquet(path)
    expected = aggregate_results(results, params)
    assert analysed.aggregates == expected
    assert analysed.pareto_front == pareto_front(results) == ("b",)
    assert analysed.aggregates[2].cycles_failed == 1
    assert analysed.aggregates[1].params == {"pytorch.batch_size": 8}


def test_not_a_results_table_is_a_clear_error(tmp_path):
    import pyarrow as pa

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    with pytest.raises(ValueError, match="config_hash"):
        analyse_parquet(path)
