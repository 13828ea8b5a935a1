"""One look for every figure: a colour-blind-safe palette, sizes fit for a paper
column, units on every axis, vector output.

The palette is Okabe & Ito's (2008), readable with every common colour-vision
deficiency; series also differ by marker so they survive greyscale printing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Okabe-Ito: blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FRONT_COLOUR = "#D55E00"

# phase bands of the power traces (light tints; the trace lines stay on top)
PHASE_COLOURS = {
    "baseline": "#BBBBBB",
    "load": "#DDDDDD",
    "warmup": "#F0E442",
    "thermal floor": "#E69F00",
    "prefill": "#56B4E9",
    "decode": "#009E73",
    "steady state": "#CC79A7",
}

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # text stays text in SVG (searchable, editable)
    "pdf.fonttype": 42,  # TrueType in PDF: journals reject Type 3 fonts
}


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


@contextmanager
def styled() -> Iterator[None]:
    """matplotlib's rc settings of the report, for the figures made inside."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float = 6.4, height: float = 4.0, **subplots: Any) -> tuple[Any, Any]:
    """A Figure (no pyplot: no global state, no GUI backend) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(**subplots)
