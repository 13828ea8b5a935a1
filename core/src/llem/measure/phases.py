"""How the window's GPU energy splits between prefill and decode.

Requests overlap (a batch, or an engine's continuous batching), so a rule is needed;
the rule used is stored with every result (``Energy.phase_split_rule``):

    prefill time = the union over requests of [t_submit, t_first_token], i.e. every
    moment in which at least one request is still waiting for its first token; decode
    time = the rest of the window. The window's GPU energy (from the meter) is divided
    in proportion to the GPU power integrated over each part (the telemetry sampler's
    power, summed over GPUs, trapezoids).

Queueing before a request's prefill counts as prefill, so backends stamp t_submit when
a request enters the running batch. With no first-token times (a backend that cannot
time them) or no power samples the split is None with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from llem.interfaces import RequestRecord
from llem.telemetry.integrate import Point, energy_j, merge_intervals

RULE = (
    "prefill = union over requests of [t_submit, t_first_token] (any request waiting for "
    "its first token); decode = rest of the window; the meter's GPU energy is split in "
    "proportion to sampled GPU power integrated over each part"
)


@attrs.frozen
class PhaseSplit:
    prefill_j: float | None
    decode_j: float | None
    prefill_s: float | None
    rule: str | None
    null_reason: str | None = None


def split_energy(
    records: Sequence[RequestRecord],
    power: Mapping[str, Sequence[Point]],
    window: tuple[int, int],
    gpu_j: float | None,
) -> PhaseSplit:
    """Split ``gpu_j`` over the window ``(t0_ns, t1_ns)``; ``power`` is by GPU UUID."""
    t0, t1 = window
    if gpu_j is None:
        return PhaseSplit(None, None, None, None, "no GPU energy was measured")
    missing = sum(1 for r in records if r.t_first_token_ns is None)
    if missing:
        return PhaseSplit(
            None,
            None,
            None,
            None,
            f"the backend reported no first-token time for {missing} of {len(records)} requests",
        )
    if not any(power.values()):
        return PhaseSplit(None, None, None, None, "no power samples in the window")
    prefill = merge_intervals(
        [
            (max(r.t_submit_ns, t0), min(r.t_first_token_ns, t1))
            for r in records
            if r.t_first_token_ns is not None
        ]
    )
    whole = sum(energy_j(points, t0, t1) for points in power.values() if points)
    if whole <= 0:
        return PhaseSplit(None, None, None, None, "the sampled GPU power was zero")
    part = sum(energy_j(points, a, b) for points in power.values() if points for a, b in prefill)
    prefill_j = gpu_j * part / whole
    return PhaseSplit(
        prefill_j=prefill_j,
        decode_j=gpu_j - prefill_j,
        prefill_s=sum(b - a for a, b in prefill) / 1e9,
        rule=RULE,
    )
