"""report.html: one self-contained page that opens from disk with no network.

Figures are inlined as SVG data URIs (vector, searchable text); the style sheet is
inline; there is no script. Sections: summary table, figures (with a note for each
one the study cannot draw), measurement warnings with their fixes, failures, the
environment (GPUs, driver, engine versions) and how to reproduce (command, config).
"""

from __future__ import annotations

import base64
import io
import shlex
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from llem.report.figures import Drawn
from llem.report.study import LoadedStudy
from llem.report.table import HEADERS, footer, summary_rows
from llem.results.schema import Environment

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{color:#8a5a00;font-style:italic}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
.warning{color:#b34000}.info{color:#555}
"""


def write_html(study: LoadedStudy, drawn: Sequence[Drawn], path: Path) -> Path:
    from llem.results.io import write_bytes_atomic

    write_bytes_atomic(path, page(study, drawn).encode("utf-8"))
    return path


def page(study: LoadedStudy, drawn: Sequence[Drawn]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>llem report: {escape(study.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>llem report: {escape(study.name)}</h1>",
        f"<p>{escape(_when(study))}<br>",
        f"Run directory: <code>{escape(str(study.run_dir))}</code></p>",
        "<h2>Summary</h2>",
        summary_table(study),
        "<h2>Figures</h2>",
        *(figure(d) for d in drawn),
        "<h2>Measurement warnings</h2>",
        warnings_table(study),
        "<h2>Failures</h2>",
        failures_table(study),
        "<h2>Environment</h2>",
        environment(study),
        "<h2>How to reproduce</h2>",
        reproduce(study),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _when(study: LoadedStudy) -> str:
    return f"Status: {study.status}; from {study.started_at or '?'} to {study.ended_at or '?'}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 99) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if i >= numeric_from else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_table(study: LoadedStudy) -> str:
    rows = summary_rows(study)
    if not rows:
        return "<p class='note'>No configuration has finished yet.</p>"
    return _table(HEADERS, rows, numeric_from=1) + f"<p>{escape(footer(study))}</p>"


def svg_data_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure(d: Drawn) -> str:
    if d.figure is None:
        return f"<h3>{escape(d.title)}</h3><p class='note'>Not drawn: {escape(d.note or '')}</p>"
    note = f" <span class='note'>({escape(d.note)})</span>" if d.note else ""
    return (
        f'<figure id="{escape(d.name)}"><img src="{svg_data_uri(d.figure)}" '
        f'alt="{escape(d.title)}"><figcaption><b>{escape(d.title)}.</b> '
        f"{escape(d.caption)}{note}</figcaption></figure>"
    )


def warnings_table(study: LoadedStudy) -> str:
    """Every distinct warning (code, message, fix) once, with the experiments it hit."""
    seen: dict[tuple[str, str, str, str], list[str]] = {}
    for r in study.experiments:
        for w in r.warnings:
            seen.setdefault((w.severity, w.code, w.message, w.fix), []).append(r.id)
    if not seen:
        return "<p>No measurement warning.</p>"
    rows = [[s, c, m, f, ", ".join(ids)] for (s, c, m, f), ids in seen.items()]
    return _table(("severity", "code", "message", "fix", "experiments"), rows) + (
        "<p>Every code is explained in docs/warnings.md.</p>"
    )


def failures_table(study: LoadedStudy) -> str:
    rows = [
        [r.id, r.error.kind if r.error else "?", r.error.message if r.error else ""]
        for r in study.experiments
        if r.status != "ok"
    ]
    if not rows:
        return "<p>No experiment failed.</p>"
    return _table(("experiment", "kind", "message"), rows)


def environment(study: LoadedStudy) -> str:
    """Each distinct environment of the study (host, GPUs, driver) once."""
    envs: dict[tuple, tuple[Environment, list[str]]] = {}
    for r in study.experiments:
        if r.environment is None:
            continue
        e = r.environment
        key = (e.hostname, tuple(g.uuid for g in e.gpus), e.driver_version, e.llem_version)
        envs.setdefault(key, (e, []))[1].append(r.id)
    if not envs:
        return "<p class='note'>No experiment recorded its environment.</p>"
    return "".join(_environment(e, ids, len(envs) > 1) for e, ids in envs.values())


def _environment(e: Environment, ids: list[str], several: bool) -> str:
    rows = [
        ["host", f"{e.hostname} ({e.platform})"],
        ["CPU", f"{e.cpu_model} ({e.cpu_count} logical CPUs, {e.ram_bytes / 2**30:.1f} GiB RAM)"],
        ["NVIDIA driver", e.driver_version or "–"],
        ["CUDA driver", e.cuda_driver_version or "–"],
        ["CUDA_VISIBLE_DEVICES", e.cuda_visible_devices or "unset"],
        ["Python", e.python],
        ["llem", e.llem_version],
    ]
    rows += [[f"plugin {k}", v] for k, v in e.plugin_versions.items()]
    rows += [[f"engine {k}", v] for k, v in e.engine_versions.items()]
    rows += [[f"runner {k}", str(v)] for k, v in _flat(e.runner).items()]
    if e.gpu_unavailable_reason:
        rows.append(["GPU", e.gpu_unavailable_reason])
    gpus = [
        [
            str(g.cuda_index),
            g.name,
            g.uuid,
            f"{g.memory_total_bytes / 2**30:.1f}",
            "–" if g.power_limit_w is None else f"{g.power_limit_w:g}",
            g.compute_capability or "–",
            "–" if g.persistence_mode is None else ("on" if g.persistence_mode else "off"),
        ]
        for g in e.gpus
    ]
    head = f"<p>Experiments: {escape(', '.join(ids))}</p>" if several else ""
    gpu_table = (
        _table(
            ("cuda", "GPU", "UUID", "memory (GiB)", "power limit (W)", "CC", "persistence"), gpus
        )
        if gpus
        else "<p>No GPU was measured.</p>"
    )
    return head + _table(("", ""), rows) + gpu_table


def _flat(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if not isinstance(v, Mapping)}


def reproduce(study: LoadedStudy) -> str:
    command = reproduce_command(study)
    config = study.config_text or "(config.yaml is missing from the run directory)"
    return (
        f"<p>Repeat the study (a fresh run directory) with:</p><pre>{escape(command)}</pre>"
        f"<p>config.yaml as the study loaded it:</p><pre>{escape(config)}</pre>"
    )


def reproduce_command(study: LoadedStudy) -> str:
    """``llem run RUN_DIR/config.yaml``: config.yaml is the source text as loaded, with
    the overrides and profile appended as comments; they are repeated as flags here."""
    invocation = study.manifest.get("invocation") or {}
    args = ["llem", "run", str(Path(study.run_dir) / "config.yaml")]
    for override in invocation.get("overrides") or ():
        args += ["--set", str(override)]
    if invocation.get("profile"):
        args += ["--profile", str(invocation["profile"])]
    return shlex.join(args)
