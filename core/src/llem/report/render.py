"""``llem report``: draw every figure of a study, save it in each format asked for, and
write the self-contained report.html."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from llem.errors import ConfigError
from llem.report.figures import Drawn

FORMATS = ("html", "pdf", "svg", "png")
IMAGE_FORMATS = ("pdf", "svg", "png")


@attrs.frozen
class Report:
    out_dir: Path
    drawn: tuple[Drawn, ...]
    files: tuple[Path, ...]
    html: Path | None


def parse_formats(text: str) -> tuple[str, ...]:
    """``"html,pdf"`` -> ("html", "pdf"); an unknown one is a ConfigError naming the known."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(
            f"--format {text!r}: unknown {', '.join(unknown) or 'empty'}; "
            f"choose from {','.join(FORMATS)}"
        )
    return formats


def draw_all(study: object) -> list[Drawn]:
    """The study's figures in the order of the page: study-level, serving, traces."""
    from llem.report.figures import study_figures
    from llem.report.serving import serving_figure
    from llem.report.style import styled
    from llem.report.traces import trace_figures

    with styled():
        return [*study_figures(study), serving_figure(study), *trace_figures(study)]  # type: ignore[arg-type]


def render_report(run_dir: Path, out_dir: Path | None, formats: Sequence[str]) -> Report:
    """Read ``run_dir``, write the figures (``figures/<name>.<fmt>``) and report.html
    into ``out_dir`` (default ``RUN_DIR/report``)."""
    from llem.report.study import load_study
    from llem.report.style import styled

    study = load_study(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    drawn = draw_all(study)
    files: list[Path] = []
    with styled():
        for d in drawn:
            if d.figure is None:
                continue
            for fmt in (f for f in formats if f in IMAGE_FORMATS):
                path = out / "figures" / f"{d.name}.{fmt}"
                path.parent.mkdir(parents=True, exist_ok=True)
                d.figure.savefig(path, format=fmt)
                files.append(path)
    html = None
    if "html" in formats:
        from llem.report.html import write_html

        html = write_html(study, drawn, out / "report.html")
        files.append(html)
    return Report(out, tuple(drawn), tuple(files), html)
