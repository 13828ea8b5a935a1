"""``llem report`` and ``llem results list|show|compare|export``.

Importing this module costs click only: the readers, matplotlib and pyarrow are
imported inside the commands (``llem --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

_RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
MISSING_EXTRA = "pip install 'llem-core[report]'"


def _console() -> Any:
    import os

    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 240
    return console


def _require(module: str, what: str) -> None:
    import importlib.util

    from llem.errors import ConfigError

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs {module}, which is not installed; fix: {MISSING_EXTRA}")


@click.command(name="report")
@click.argument("run_dir", type=_RUN_DIR)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write report.html and figures/ (default: RUN_DIR/report).",
)
@click.option(
    "--format",
    "formats",
    default="html,pdf,svg,png",
    show_default=True,
    help="Comma-separated: html (self-contained report.html), pdf and svg (vector), png.",
)
def report_command(run_dir: Path, out_dir: Path | None, formats: str) -> None:
    """Figures and an offline report.html of the study in RUN_DIR (finished or not):
    Pareto fronts with 95 % intervals, each swept parameter, power and temperature
    traces with phases, the energy breakdown, serving load curves. Needs
    llem-core[report]."""
    from llem.report.render import parse_formats, render_report

    chosen = parse_formats(formats)
    _require("matplotlib", "llem report")
    report = render_report(run_dir, out_dir, chosen)
    for d in report.drawn:
        if d.figure is None:
            click.echo(f"not drawn: {d.title}: {d.note}")
    images = sum(1 for p in report.files if p.suffix != ".html")
    click.echo(f"{images} figure file(s) in {report.out_dir / 'figures'}")
    if report.html is not None:
        click.echo(f"report: {report.html}")


@click.group(name="results")
def results_group() -> None:
    """Find, show, compare and export study results."""


@results_group.command(name="list")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def list_command(directory: Path | None) -> None:
    """The run directories under DIRECTORY (default: ./results): study, status, how many
    experiments are done, failed or pending, and when."""
    from llem.report.listing import list_studies, rich_listing

    root = directory or Path("results")
    entries = list_studies(root)
    if not entries:
        click.echo(f"no run directory under {root}")
        return
    _console().print(rich_listing(entries, root))


@results_group.command(name="show")
@click.argument("run_dir", type=_RUN_DIR)
def show_command(run_dir: Path) -> None:
    """The summary table of RUN_DIR: per configuration, means [95 % CI] across cycles."""
    from llem.report.study import load_study
    from llem.report.table import rich_table

    _console().print(rich_table(load_study(run_dir)))


@results_group.command(name="compare")
@click.argument("run_a", type=_RUN_DIR)
@click.argument("run_b", type=_RUN_DIR)
def compare_command(run_a: Path, run_b: Path) -> None:
    """Configurations of RUN_A and RUN_B matched by config hash (else by parameters):
    B/A of J/token and tokens/s, and whether the 95 % intervals overlap."""
    from llem.report.compare import compare, rich_comparison
    from llem.report.study import load_study

    a, b = load_study(run_a), load_study(run_b)
    console = _console()
    for part in rich_comparison(compare(a, b), a, b):
        console.print(part)


@results_group.command(name="export")
@click.argument("run_dir", type=_RUN_DIR)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["hf-datasets"]),
    default="hf-datasets",
    show_default=True,
    help="hf-datasets: data/results.parquet + a dataset card (README.md) the Hub reads.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the export (default: RUN_DIR/hf-dataset).",
)
def export_command(run_dir: Path, fmt: str, out_dir: Path | None) -> None:
    """Export RUN_DIR as a local Hugging Face dataset (nothing is uploaded); load it with
    datasets.load_dataset("parquet", data_files=...)."""
    from llem.report.export import export

    out = export(run_dir, fmt, out_dir)
    click.echo(f"dataset: {out} (upload: huggingface-cli upload --repo-type dataset NAME {out})")
