"""SLO attainment, goodput and goodput per kJ of a serving run.

Per request: TTFT = first token - sent; TPOT = (end - first token) / (output tokens - 1)
(None with fewer than two tokens: the term then holds); end to end = end - sent. A
request meets the SLO when it did not fail and every set term is within its target.

- attainment = requests meeting the SLO / requests sent;
- goodput_rps = requests meeting the SLO / whole-run duration;
- goodput_per_kj = requests meeting the SLO / whole-run energy in kJ;
- met = for every set term, its ``percentile``-th percentile over the requests (failed
  ones count as infinitely slow) is within the target -- "TTFT p90 <= 0.5 s".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from llem.config.schema import SloConfig
from llem.interfaces import RequestRecord
from llem.measure.performance import percentile
from llem.results.schema import SloOutcome


def request_latencies(record: RequestRecord) -> dict[str, float | None]:
    """TTFT, TPOT and end-to-end latency of one request, seconds."""
    first = record.t_first_token_ns
    ttft = None if first is None else (first - record.t_submit_ns) / 1e9
    tpot = None
    if first is not None and record.output_tokens > 1:
        tpot = (record.t_end_ns - first) / 1e9 / (record.output_tokens - 1)
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": (record.t_end_ns - record.t_submit_ns) / 1e9}


def meets(latencies: Mapping[str, float | None], ok: bool, slo: SloConfig) -> bool | None:
    """Whether one request met every set term (None when the SLO sets none)."""
    terms = slo.terms
    if not terms:
        return None
    if not ok:
        return False
    for name, target in terms.items():
        value = latencies.get(name)
        if value is None and name == "tpot_s":
            continue  # one token: no time per output token to hold against the target
        if value is None or value > target:
            return False
    return True


def slo_outcome(
    latencies: Sequence[Mapping[str, float | None]],
    ok: Sequence[bool],
    slo: SloConfig,
    duration_s: float,
    energy_j: float | None,
) -> SloOutcome | None:
    """The run's SloOutcome, None when the SLO sets no term."""
    if not slo.terms:
        return None
    flags = [meets(lat, good, slo) for lat, good in zip(latencies, ok, strict=True)]
    good = sum(1 for f in flags if f)
    observed = {name: _observed(latencies, ok, name, slo.percentile) for name in slo.terms}
    return SloOutcome(
        ttft_s=slo.ttft_s,
        tpot_s=slo.tpot_s,
        e2e_s=slo.e2e_s,
        percentile=slo.percentile,
        attainment=good / len(flags) if flags else None,
        good_requests=good,
        goodput_rps=good / duration_s if duration_s > 0 else None,
        goodput_per_kj=good / (energy_j / 1000.0) if energy_j else None,
        met=bool(flags) and all(v is not None and v <= slo.terms[k] for k, v in observed.items()),
        observed=observed,
    )


def _observed(
    latencies: Sequence[Mapping[str, float | None]], ok: Sequence[bool], name: str, q: float
) -> float | None:
    values = []
    for lat, good in zip(latencies, ok, strict=True):
        value = lat.get(name)
        if not good:
            values.append(math.inf)
        elif value is not None:
            values.append(value)
    if not values:
        return None
    result = percentile(sorted(values), q)
    return None if math.isinf(result) or math.isnan(result) else result
