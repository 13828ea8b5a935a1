"""bench/server_vs_inprocess.py's two studies load as llem configs (so a GPU run does not
fail on a config error), with the same engine settings in both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parents[3] / "bench" / "server_vs_inprocess.py"


def bench_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("server_vs_inprocess", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_variants_load_with_one_experiment_per_rate(tmp_path):
    from llem.config.loader import load_config

    bench = bench_module()
    for variant in ("inprocess", "server"):
        path = tmp_path / f"{variant}.yaml"
        path.write_text(yaml.safe_dump(bench.study(variant, [4.0, 16.0], 45.0, 0)))
        experiments = load_config(path).experiments
        assert [e.load.rate for e in experiments] == [4.0, 16.0]
        assert {e.backend for e in experiments} == {"vllm" if variant == "inprocess" else "server"}
    server = bench.study("server", [4.0], 45.0, 0)["server"]["args"]
    assert server["max-num-seqs"] == bench.ENGINE["max_num_seqs"]


def test_the_report_names_the_http_stacks_cost():
    bench = bench_module()
    common = dict(
        status="ok",
        steady_j_per_token=None,
        gpu_j=1.0,
        itl_mean=0.02,
        tokens_per_s=100.0,
        achieved_rate=4.0,
        client_cpu_us_per_token=None,
        client_cpu_s=None,
        warnings=[],
    )
    rows = [
        {
            **common,
            "variant": "inprocess",
            "rate": 4.0,
            "j_per_token": 0.10,
            "ttft_p50": 0.050,
            "ttft_p90": 0.080,
        },
        {
            **common,
            "variant": "server",
            "rate": 4.0,
            "j_per_token": 0.11,
            "ttft_p50": 0.060,
            "ttft_p90": 0.095,
        },
    ]
    text = bench.markdown(rows, {"command": "x", "host": "h", "wall_s": {"server": 1.0}})
    assert "| 4.0 | 0.01 (j_per_token) | 10 | 10 | 15 |" in text
