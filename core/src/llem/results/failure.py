"""A failed experiment is a result too: identity, what failed, and the tail of the trace.

Used by the worker (an exception inside the lifecycle) and by the parent (a worker that
died, was killed on timeout, or sent nothing back).
"""

from __future__ import annotations

import traceback
from typing import Any

from llem.results.schema import Environment, ExperimentResult, Failure
from llem.timestamps import utc_now

TRACEBACK_LINES = 40
TRACEBACK_CHARS = 4000


def traceback_tail(exc: BaseException | None = None, text: str | None = None) -> str:
    """The last lines of ``exc``'s traceback (or of ``text``)."""
    if text is None:
        text = (
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            if exc is not None
            else traceback.format_exc()
        )
    lines = text.rstrip().splitlines()[-TRACEBACK_LINES:]
    return "\n".join(lines)[-TRACEBACK_CHARS:]


def identity(cfg: Any) -> tuple[str, dict[str, Any]]:
    """(config_hash, config as plain data) of an ExperimentConfig."""
    from llem.config.identity import config_to_dict, hash_dict

    data = config_to_dict(cfg)
    return hash_dict(data), data


def failed_result(
    cfg: Any,
    *,
    experiment_id: str,
    cycle: int,
    started_at: str,
    failure: Failure,
    environment: Environment | None = None,
    **fields: Any,
) -> ExperimentResult:
    config_hash, config = identity(cfg)
    return ExperimentResult(
        id=experiment_id,
        config_hash=config_hash,
        config=config,
        cycle=cycle,
        status="failed",
        started_at=started_at,
        ended_at=utc_now(),
        name=getattr(cfg, "name", None),
        environment=environment,
        error=failure,
        **fields,
    )
