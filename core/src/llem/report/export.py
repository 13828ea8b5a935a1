"""``llem results export RUN_DIR --format hf-datasets``: a folder the Hugging Face Hub
(and ``datasets.load_dataset``) reads as a dataset, made locally -- no upload.

- ``data/results.parquet``: one flat row per experiment x cycle, the same columns as
  the run directory's results.parquet (llem.results.flatten), rebuilt from the results
  so an unfinished study exports what it has;
- ``README.md``: the dataset card, YAML metadata first (the Hub's ``configs`` /
  ``data_files`` so the Parquet file is the ``train`` split; license, tags, size), then
  what the columns mean with their units, the environment and how to load it.

``datasets`` itself is only needed to load the export, not to make it.
"""

from __future__ import annotations

from pathlib import Path

from llem.errors import ConfigError
from llem.report.study import LoadedStudy, load_study

FORMATS = ("hf-datasets",)
DATA_FILE = "data/results.parquet"

# The flat columns of results.parquet: meaning and unit (docs/results.md has every field).
COLUMNS = {
    "id": "experiment id, `<config_hash>-c<cycle>`",
    "cycle": "repetition of the configuration (1-based)",
    "status": "`ok` or `failed`",
    "config_hash": "hash of the resolved config; equal across cycles and machines",
    "name": "experiment name, if any",
    "backend": "inference engine (pytorch, vllm, tensorrt, server, ...)",
    "model": "model id",
    "duration_s": "measured window (s)",
    "tokens_per_second": "output tokens per second of the window (tok/s)",
    "requests_per_second": "requests per second of the window (req/s)",
    "ttft_{mean,p50,p90,p99}_s": "time to first token (s)",
    "itl_{mean,p50,p90,p99}_s": "inter-token latency (s)",
    "latency_{mean,p50,p90,p99}_s": "end-to-end request latency (s)",
    "energy_per_output_token_j": "energy per output token (J/token), all measured GPUs",
    "adjusted_energy_per_output_token_j": "the same less the idle baseline (J/token)",
    "total_j / gpu_j / cpu_j / dram_j": "energy of the window (J); cpu/dram with a CPU meter",
    "adjusted_j": "GPU energy less baseline power x window (J)",
    "prefill_j / decode_j": "the window's GPU energy split by prefill and decode work (J)",
    "baseline_power_w": "idle power of the measured GPUs, summed (W)",
    "mean_power_w": "mean power over the window (W)",
    "accuracy_bound_j": "meter accuracy bound, +-5 W per GPU x window (J)",
    "co2_kg": "estimated emissions (kg CO2-eq), method in result.json",
    "meter / energy_method / energy_null_reason": "which meter measured, how; why energy is null",
    "num_prompts / input_tokens / output_tokens": "the workload (requests, tokens)",
    "flops_total": "reference FLOPs, 2 x parameters x tokens",
    "window_s": "measured window (s)",
    "warnings / notes": "measurement warning codes (docs/warnings.md), comma-separated",
    "error_kind / error_message": "why a failed experiment failed",
    "<dotted key>": "each parameter that varies across the study (e.g. `pytorch.batch_size`)",
}


def export(run_dir: Path, fmt: str, out_dir: Path | None) -> Path:
    """Write the export of ``run_dir`` into ``out_dir`` (default RUN_DIR/hf-dataset)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not known; choose one of {', '.join(FORMATS)}")
    study = load_study(run_dir)
    if not study.experiments:
        raise ConfigError(f"{run_dir} has no experiment results yet; nothing to export")
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "hf-dataset"
    write_parquet(study, out / DATA_FILE)
    from llem.results.io import write_bytes_atomic

    write_bytes_atomic(out / "README.md", dataset_card(study).encode("utf-8"))
    return out


def write_parquet(study: LoadedStudy, path: Path) -> None:
    import pyarrow.parquet as pq

    from llem.results.flatten import flat_row
    from llem.results.io import atomic_path
    from llem.results.sinks import rows_to_table

    rows = [flat_row(r, study.params.get(r.config_hash) or {}) for r in study.experiments]
    with atomic_path(path) as tmp:
        pq.write_table(rows_to_table(rows), tmp)


def dataset_card(study: LoadedStudy) -> str:
    n = len(study.experiments)
    return "\n".join([*_metadata(study, n), "", *_body(study, n), ""])


def _metadata(study: LoadedStudy, n: int) -> list[str]:
    import json

    size = "n<1K" if n < 1000 else ("1K<n<10K" if n < 10_000 else "10K<n<100K")
    return [
        "---",
        f"pretty_name: {json.dumps(f'llem study {study.name}')}",
        "license: cc-by-4.0",
        "tags:",
        "- llem",
        "- energy",
        "- llm-inference",
        "- benchmark",
        "size_categories:",
        f"- {size}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {DATA_FILE}",
        "---",
    ]


def _body(study: LoadedStudy, n: int) -> list[str]:
    gpus = sorted({g.name for r in study.experiments if r.environment for g in r.environment.gpus})
    drivers = sorted({r.environment.driver_version for r in study.ok if r.environment}, key=str)
    lines = [
        f"# llem study `{study.name}`",
        "",
        f"Energy, throughput and latency of LLM inference measured by llem: {n} experiment(s) "
        f"x cycle(s), {len(study.aggregates)} configuration(s); study status: {study.status}.",
        f"GPUs: {', '.join(gpus) or 'none'}; NVIDIA driver: {', '.join(map(str, drivers)) or '-'}.",
        "",
        "## Load it",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("parquet", data_files="data/results.parquet")["train"]',
        "# or: pandas.read_parquet(PATH), polars.read_parquet(PATH),",
        "#     duckdb.sql(\"FROM 'data/results.parquet'\")",
        "```",
        "",
        "## Columns",
        "",
        "One row per experiment x cycle. Null is never zero: a null figure was not measured.",
        "",
        "| column | meaning (unit) |",
        "| --- | --- |",
        *(f"| `{k}` | {v} |" for k, v in COLUMNS.items()),
        "",
        "Every field of the full results (result.json) is described in llem's docs/results.md.",
    ]
    return lines
