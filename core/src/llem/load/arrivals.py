"""When each request of a serving run is sent: seeded, reproducible arrival schedules.

- ``poisson``: exponential gaps of mean 1/rate (coefficient of variation 1);
- ``gamma``: gamma gaps of mean 1/rate and shape ``burstiness`` (CV = 1/sqrt(burstiness):
  1 is Poisson, < 1 burstier, > 1 more regular);
- ``constant``: gaps of exactly 1/rate;
- ``trace``: the arrival times (and token lengths) of a CSV or JSONL file;
- ``concurrency``: no schedule; the generator keeps N requests in flight (closed loop).

The first request is sent at 0 s. The same seed gives the same schedule on every
machine (Python's Mersenne Twister). A schedule stops at ``duration_s`` or after ``n``
requests, whichever comes first.

Traces: a header row (CSV) or objects (JSONL, one per line) with an arrival time and,
optionally, input and output token counts. Column names are matched without regard to
case: time ``TIMESTAMP``/``timestamp``/``arrival_time``/``time`` (seconds as a number,
or an ISO 8601 date-time as in Microsoft's Azure LLM inference traces), input
``ContextTokens``/``input_tokens``/``input_len``/``prompt_tokens``, output
``GeneratedTokens``/``output_tokens``/``output_len``. Times are taken relative to the
first row and must not decrease. Any bad row is a ConfigError naming file:line.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from llem.config.schema import LoadConfig
from llem.errors import ConfigError

TIME_COLUMNS = ("timestamp", "arrival_time", "time")
INPUT_COLUMNS = ("contexttokens", "input_tokens", "input_len", "prompt_tokens")
OUTPUT_COLUMNS = ("generatedtokens", "output_tokens", "output_len")


@attrs.frozen
class Arrival:
    """One planned request: send time (s after the run starts) and, from a trace, its
    token lengths (None: the dataset's)."""

    at_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None


def schedule(load: LoadConfig, n: int) -> list[Arrival] | None:
    """The planned arrivals of ``load`` (at most ``n``), None for closed-loop concurrency."""
    if load.arrival == "concurrency":
        return None
    if load.arrival == "trace":
        rows = read_trace(Path(str(load.trace)))[:n]
    else:
        rows = [Arrival(t) for t in arrival_times(load.arrival, load.rate or 0.0, n, load)]
    if load.duration_s is not None:
        rows = [r for r in rows if r.at_s < load.duration_s]
    return rows


def arrival_times(kind: str, rate: float, n: int, load: LoadConfig) -> list[float]:
    """``n`` send times of a poisson, gamma or constant process at ``rate`` per second."""
    if rate <= 0:
        raise ValueError(f"an arrival rate must be > 0, got {rate}")
    if kind == "constant":  # i / rate: no rounding drift from summing the gaps
        return [i / rate for i in range(n)]
    rng = random.Random(load.seed)
    times, t = [], 0.0
    for i in range(n):
        if i:
            t += _gap(kind, rate, load.burstiness, rng)
        times.append(t)
    return times


def _gap(kind: str, rate: float, burstiness: float, rng: random.Random) -> float:
    if kind == "poisson":
        return rng.expovariate(rate)
    if kind == "gamma":
        return rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    raise ValueError(f"no arrival process {kind!r}")


def read_trace(path: Path) -> list[Arrival]:
    """The arrivals of a CSV or JSONL trace (see the module docstring)."""
    if not path.is_file():
        raise ConfigError(
            f"load.trace {path}: no such file; point load.trace at a CSV or JSONL file with "
            f"an arrival time and token counts per request (e.g. TIMESTAMP,ContextTokens,"
            f"GeneratedTokens)"
        )
    rows = _jsonl_rows(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(path)
    arrivals: list[Arrival] = []
    start: float | None = None
    for where, row in rows:
        at, inp, out = _parse_row(row, where)
        start = at if start is None else start
        if arrivals and at - start < arrivals[-1].at_s:
            raise ConfigError(
                f"{where}: the arrival time goes back in time; sort the trace by time"
            )
        arrivals.append(Arrival(at - start, inp, out))
    if not arrivals:
        raise ConfigError(f"{path}: the trace has no requests; add rows after the header")
    return arrivals


def _csv_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            where = f"{path}:{reader.line_num}"
            if len(values) != len(names):
                raise ConfigError(
                    f"{where}: {len(values)} values for {len(names)} columns ({','.join(header)})"
                )
            yield where, dict(zip(names, values, strict=True))


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{where}: each line must be a JSON object")
            yield where, {str(k).lower(): v for k, v in data.items()}


def _parse_row(row: Mapping[str, Any], where: str) -> tuple[float, int | None, int | None]:
    key = next((c for c in TIME_COLUMNS if c in row), None)
    if key is None:
        raise ConfigError(
            f"{where}: no arrival time column (one of {', '.join(TIME_COLUMNS)}, any case)"
        )
    return (
        _seconds(row[key], where),
        _tokens(row, INPUT_COLUMNS, where),
        _tokens(row, OUTPUT_COLUMNS, where),
    )


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(
            f"{where}: arrival time {text!r} is neither seconds nor an ISO 8601 date-time"
        ) from None


def _tokens(row: Mapping[str, Any], columns: tuple[str, ...], where: str) -> int | None:
    key = next((c for c in columns if c in row), None)
    if key is None or row[key] in (None, ""):
        return None
    try:
        value = int(str(row[key]).strip())
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a whole number, got {row[key]!r}") from None
    if value < 1:
        raise ConfigError(f"{where}: {key} must be >= 1, got {value}")
    return value
