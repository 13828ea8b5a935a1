"""Wall-clock timestamps in the records llem writes (manifest, study, results).

One format everywhere, so that a manifest entry and its result can be compared as
text: ISO 8601 in UTC with millisecond precision (``2026-12-06T12:49:02.123+00:00``).
Durations are never computed from these; they come from ``time.perf_counter``.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
