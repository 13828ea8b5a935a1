"""``llem report``: every figure in every format, and a self-contained report.html."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from llem.cli import cli
from llem.errors import ConfigError
from llem.report.render import parse_formats, render_report
from llem.report.study import load_study

from tests.core.report.conftest import CYCLES, OFFLINE_GRID, SERVING_GRID

pytest.importorskip("matplotlib")

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


def test_every_figure_is_written_in_every_format_non_empty(serving_report):  # type: ignore[no-untyped-def]
    drawn = [d for d in serving_report.drawn if d.figure is not None]
    # 2 fronts, 2 swept parameters (batch size, rate), breakdown, serving, a trace per config
    assert len(drawn) == 2 + 2 + 1 + 1 + len(SERVING_GRID)
    for d in drawn:
        for suffix, magic in MAGIC.items():
            path = serving_report.out_dir / "figures" / f"{d.name}{suffix}"
            assert path.stat().st_size > 1000, path
            assert path.read_bytes().startswith(magic), path
    svg = (serving_report.out_dir / "figures" / "serving_load.svg").read_text()
    assert "SLO attainment" in svg  # text kept as text (svg.fonttype none)


def test_report_html_is_self_contained_with_every_section(serving_report, serving_run):  # type: ignore[no-untyped-def]
    html = serving_report.html.read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no network
    assert "<script" not in html
    images = re.findall(r'<img src="data:image/svg\+xml;base64,', html)
    assert len(images) == len([d for d in serving_report.drawn if d.figure is not None])
    study = load_study(serving_run)
    for r in study.experiments:
        for w in r.warnings:
            assert w.code in html and _escaped(w.fix) in html
    env = study.ok[0].environment
    assert env.driver_version in html and env.gpus[0].name in html
    assert "engine " in html or "plugin " in html
    assert f"llem run {serving_run}/config.yaml" in html
    assert "load:" in html or "experiments:" in html  # the config itself
    assert "★" in html  # the summary table stars the front


def _escaped(text: str) -> str:
    from html import escape

    return escape(text)


def test_an_offline_report_notes_the_serving_figure_it_cannot_draw(offline_run, tmp_path):  # type: ignore[no-untyped-def]
    report = render_report(offline_run, tmp_path, ("html",))
    html = report.html.read_text("utf-8")
    assert "Not drawn: the study has no serving results" in html
    assert report.files == (report.html,)  # html only: no figure files
    assert len(re.findall("<img ", html)) == 2 + 2 + 1 + len(OFFLINE_GRID)


def test_an_unfinished_study_is_reported_from_its_results(offline_run, tmp_path):  # type: ignore[no-untyped-def]
    copy = tmp_path / "run"
    shutil.copytree(offline_run, copy)
    (copy / "study.json").unlink()
    study = load_study(copy)
    assert len(study.experiments) == len(OFFLINE_GRID) * CYCLES
    assert len(study.aggregates) == len(OFFLINE_GRID) and study.pareto_front
    assert study.params == load_study(offline_run).params
    report = render_report(copy, None, ("svg",))
    assert report.out_dir == copy / "report" and len(report.files) > 5


def test_unknown_format_and_non_run_directory_are_clear_errors(tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="unknown gif; choose from html,pdf,svg,png"):
        parse_formats("png,gif")
    with pytest.raises(ConfigError, match="not a llem run directory"):
        load_study(tmp_path)


def test_llem_report_command_writes_the_report(offline_run, tmp_path):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        cli, ["report", str(offline_run), "--out", str(tmp_path), "--format", "svg,html"]
    )
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'report.html'}" in result.output
    assert "not drawn: Serving" in result.output
    assert (tmp_path / "figures" / "pareto_tokens_per_second.svg").exists()
    bad = CliRunner().invoke(cli, ["report", str(offline_run), "--format", "gif"])
    assert bad.exit_code == 2 and "choose from html,pdf,svg,png" in bad.output


def test_llem_help_imports_no_plotting_or_datasets():
    code = (
        "import sys; from click.testing import CliRunner; from llem.cli import cli; "
        "r = CliRunner().invoke(cli, ['--help']); assert 'report' in r.output, r.output; "
        "CliRunner().invoke(cli, ['results', '--help']); "
        "print([m for m in ('matplotlib', 'datasets', 'pyarrow', 'llem.report.figures') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_report_code_never_imports_run_measure_or_backends():
    root = Path(__file__).resolve().parents[3] / "core" / "src" / "llem" / "report"
    for path in root.glob("*.py"):
        text = path.read_text()
        for banned in ("llem.run", "llem.measure", "llem.load", "llem_"):
            assert f"from {banned}" not in text and f"import {banned}" not in text, (path, banned)
