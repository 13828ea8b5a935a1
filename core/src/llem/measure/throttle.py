"""How much clock throttling mattered in a window, and whether it deserves a warning.

NVML's clock-event reasons say *that* a GPU held its clocks below the maximum, not how
much that cost. A GPU at its power limit sets "software power cap" as a matter of
course: on an H200 it was set in ~17 % (HF generate, ~245 W) to ~60 % (vLLM, ~664 W)
of the samples of every run, with SM clocks dipping from 1,980 to 1,470-1,650 MHz.
That is the condition being measured, not a fault, so it is graded ``info``; a thermal
or hardware slowdown, or a power cap that cuts the clocks far deeper, is a ``warning``.

Per GPU, from the window's samples (each sample stands for one sampling interval):

- ``share``: the fraction of samples with each reason set (idle and application-clock
  reasons are ignored);
- ``clock_drop``: 1 - median SM clock of the throttled samples / median SM clock of
  the unthrottled ones (the GPU's maximum SM clock when every sample was throttled);
- ``clock_loss``: the sum of (1 - clock / reference) over the throttled samples
  divided by all samples: the share of the window's SM clock cycles the throttling
  took, an upper bound on the throughput it cost for
  compute-bound work (memory-bound decoding loses less).

Grades (thresholds below):

- ``warning`` when a thermal or hardware reason (``SEVERE``) is set in at least
  ``SEVERE_MIN_SHARE`` of the samples, or the drop under the other reasons is at least
  ``DROP_WARNING``, or ``clock_loss`` is at least ``LOSS_WARNING``;
- ``info`` otherwise: the GPU's normal power management, reported with its numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

import attrs

BENIGN = 0x1 | 0x2  # GPU idle, application clocks setting
REASON_NAMES = {
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x10: "sync boost",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "hardware power brake",
    0x100: "display clock setting",
    0x200: "board limit",
    0x400: "reliability",
}
_NAMED_BITS = sum(REASON_NAMES)  # the bits are distinct: their sum is their union
SEVERE = 0x8 | 0x20 | 0x40 | 0x80  # thermal and hardware slowdowns
SEVERE_MIN_SHARE = 0.01  # more than a one-off sample in a 100-sample window
DROP_WARNING = 0.30  # the H200's normal power-cap dips are 17-26 %
LOSS_WARNING = 0.20  # a fifth of the window's SM clock cycles


@attrs.frozen
class Throttle:
    """Throttling of one GPU over one window (see the module docstring)."""

    samples: int
    shares: dict[str, float]  # reason name -> fraction of samples with it set
    throttled_share: float  # fraction of samples with any non-benign reason
    median_clock_mhz: float | None  # SM clock of the throttled samples
    reference_clock_mhz: float | None  # unthrottled median, else the maximum
    clock_drop: float | None
    clock_loss: float | None
    grade: Literal["info", "warning"]

    @property
    def details(self) -> dict[str, float]:
        """The figures, for ``MeasurementWarning.details`` (absent ones left out)."""
        out = {f"share.{name}": share for name, share in self.shares.items()}
        out["throttled_share"] = self.throttled_share
        for key in ("median_clock_mhz", "reference_clock_mhz", "clock_drop", "clock_loss"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        return out

    @property
    def summary(self) -> str:
        parts = [f"{name} {share:.0%}" for name, share in self.shares.items()]
        flagged = round(self.throttled_share * self.samples)
        text = f"clock-event reasons in {flagged} of {self.samples} samples ({', '.join(parts)})"
        if self.clock_drop is not None:
            text += (
                f"; median SM clock {self.median_clock_mhz:.0f} MHz under them vs "
                f"{self.reference_clock_mhz:.0f} MHz without ({self.clock_drop:.0%} lower)"
            )
        if self.clock_loss is not None:
            text += f"; {self.clock_loss:.1%} of the window's SM clock cycles lost"
        return text


def assess(
    reasons: Sequence[int], clocks: Sequence[float | None], max_clock_mhz: float | None = None
) -> Throttle | None:
    """The Throttle of one GPU's samples (``reasons[i]`` with ``clocks[i]``), or None
    when no sample has a non-benign reason."""
    bad = [r & ~BENIGN for r in reasons]
    flagged = [i for i, r in enumerate(bad) if r]
    if not flagged:
        return None
    n = len(reasons)
    shares = {name: sum(1 for r in bad if r & bit) / n for bit, name in REASON_NAMES.items()}
    shares = {k: v for k, v in shares.items() if v > 0}
    unknown = sum(1 for r in bad if r and not r & _NAMED_BITS)
    if unknown:
        shares["unnamed reason"] = unknown / n
    throttled = [c for c, r in zip(clocks, bad, strict=True) if r and c is not None]
    free = [c for c, r in zip(clocks, bad, strict=True) if not r and c is not None]
    reference = statistics.median(free) if free else max_clock_mhz
    median = statistics.median(throttled) if throttled else None
    drop = loss = None
    if median is not None and reference:
        drop = max(0.0, 1.0 - median / reference)
        timed = len(throttled) + len(free)  # samples with a clock reading
        loss = sum(max(0.0, 1.0 - c / reference) for c in throttled) / timed
    severe = sum(1 for r in bad if r & SEVERE) / n
    warn = severe >= SEVERE_MIN_SHARE or (drop or 0.0) >= DROP_WARNING
    warn = warn or (loss or 0.0) >= LOSS_WARNING
    return Throttle(
        samples=n,
        shares=shares,
        throttled_share=len(flagged) / n,
        median_clock_mhz=median,
        reference_clock_mhz=reference,
        clock_drop=drop,
        clock_loss=loss,
        grade="warning" if warn else "info",
    )
