"""Benchmark: aggregate a 10,000-row results.parquet and compute its Pareto frontier.

Target (issue 4): under 2 s on the 2-core CPU machine.

The table is written once (not timed) from real ExperimentResult objects through the
real flat_row + parquet writer, so its columns are exactly what a study writes. Then
``llem.analysis.table.analyse_parquet`` is timed: read the file, group the rows by
configuration, mean/median/std/min/max/CV and a 95 % BCa bootstrap CI (scipy, 9999
resamples) for each of the four headline metrics of every configuration, and the
(energy per token, mean ITL) frontier.

Two shapes of 10,000 rows: 2,000 configurations x 5 cycles (publication profile)
and 3,334 configurations x 3 cycles (the default; more intervals to compute).
2 % of the rows are failed cycles. "cold" is the first call in a fresh process
(includes importing scipy.stats and pyarrow.parquet), then a second call in the same
process; medians over 5 fresh processes. CPU time (all threads; the bootstrap uses one
thread per core) is printed too: unlike wall time it does not grow when other
processes share the machine.

    /work/venv/bin/python bench/aggregate_speed.py
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.0
ROWS = 10_000


def write_table(path: Path, configs: int, cycles: int) -> int:
    import numpy as np
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from llem.results.flatten import flat_row
    from llem.results.sinks import rows_to_table

    from tests.fakes.study_results import make_result

    rng = np.random.default_rng(0)
    rows = []
    for c in range(configs):
        h = f"{c:012x}"
        params = {
            "pytorch.batch_size": int(2 ** (c % 7)),
            "precision": ["fp16", "bf16"][c % 2],
            "generation.max_new_tokens": 64 * (1 + c % 4),
        }
        base_e, base_itl, base_tps = (
            rng.uniform(0.1, 2),
            rng.uniform(0.005, 0.1),
            rng.uniform(50, 5000),
        )
        for k in range(1, cycles + 1):
            if len(rows) == ROWS:
                break
            failed = rng.random() < 0.02
            r = make_result(
                h,
                k,
                status="failed" if failed else "ok",
                energy_per_token=base_e * rng.normal(1, 0.02),
                itl=base_itl * rng.normal(1, 0.03),
                ttft=0.05 * rng.normal(1, 0.05),
                tokens_per_second=base_tps * rng.normal(1, 0.02),
            )
            rows.append(flat_row(r, params))
    pq.write_table(rows_to_table(rows), path)
    return len(rows)


def time_in_this_process(path: Path) -> tuple[float, ...]:
    """Wall and CPU seconds (all threads) of the first call (with imports) and of a
    second call, then #aggregates and #front."""
    w0, c0 = time.perf_counter(), time.process_time()
    from llem.analysis.table import analyse_parquet

    analysis = analyse_parquet(path)
    w1, c1 = time.perf_counter(), time.process_time()
    analyse_parquet(path)
    w2, c2 = time.perf_counter(), time.process_time()
    return (
        w1 - w0,
        c1 - c0,
        w2 - w1,
        c2 - c1,
        len(analysis.aggregates),
        len(analysis.pareto_front),
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--time":
        print(*time_in_this_process(Path(sys.argv[2])))
        return
    print(f"machine: {' '.join(platform.uname())}; cpus: {_nproc()}")
    print(f"load average before: {_loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for configs, cycles in ((2000, 5), (3334, 3)):
            path = Path(tmp) / f"results_{configs}x{cycles}.parquet"
            n = write_table(path, configs, cycles)
            runs = []
            for _ in range(5):  # fresh processes: the first call pays the imports
                out = subprocess.run(
                    [sys.executable, __file__, "--time", str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs.append([float(x) for x in out.split()])
            cold, cold_cpu, warm, warm_cpu = ([r[i] for r in runs] for i in range(4))
            n_agg, n_front = int(runs[0][4]), int(runs[0][5])
            worst = max(statistics.median(cold), statistics.median(warm))
            verdict = "PASS" if worst < TARGET_S else "FAIL"
            print(
                f"{n} rows = {configs} configs x {cycles} cycles -> {n_agg} aggregates, "
                f"{n_front} on the front (medians over 5 fresh processes):"
            )
            print(f"  first call (with imports): wall {_spread(cold)}, CPU {_spread(cold_cpu)}")
            print(f"  second call:               wall {_spread(warm)}, CPU {_spread(warm_cpu)}")
            print(f"  target < {TARGET_S} s wall: {verdict}")
    print(f"load average after: {_loadavg()}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s [{min(values):.3f}-{max(values):.3f}]"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _nproc() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
