"""Results to plain data (for JSON) and back, through the one converter (llem.converter).

``schema_version`` is checked before structuring so that a file written by another llem
version fails with a message saying so, not with a cattrs error about one field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llem.converter import converter
from llem.errors import LlemError
from llem.results.schema import SCHEMA_VERSION, ExperimentResult, StudyResult


def result_to_dict(result: ExperimentResult) -> dict[str, Any]:
    return converter.unstructure(result)


def result_from_dict(data: Mapping[str, Any], where: str = "result") -> ExperimentResult:
    """An ExperimentResult from ``data``; ``where`` (a path) goes into error messages."""
    _check_version(data, where)
    return _structure(data, ExperimentResult, where)


def study_to_dict(study: StudyResult) -> dict[str, Any]:
    return converter.unstructure(study)


def study_from_dict(data: Mapping[str, Any], where: str = "study") -> StudyResult:
    _check_version(data, where)
    return _structure(data, StudyResult, where)


def _check_version(data: Mapping[str, Any], where: str) -> None:
    if not isinstance(data, Mapping):
        raise LlemError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise LlemError(
            f"{where} has result schema_version {version!r}; this llem reads "
            f"{SCHEMA_VERSION}. Fix: read it with the llem version that wrote it"
        )


def _structure(data: Mapping[str, Any], cls: type, where: str) -> Any:
    try:
        return converter.structure(dict(data), cls)
    except Exception as exc:
        import cattrs

        if isinstance(exc, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(exc))
        else:
            detail = f"{type(exc).__name__}: {exc}"
        raise LlemError(f"{where} is not a valid {cls.__name__}: {detail}") from None
