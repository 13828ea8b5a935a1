"""docs/results.md documents every field of every result class, and no field that is gone."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import attrs
from llem.results import schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "results.md"


def result_classes() -> list[type]:
    """The attrs classes reachable from StudyResult through field types, in order."""
    seen: list[type] = []

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.append(cls)
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            for arg in _flatten(hints[field.name]):
                if isinstance(arg, type) and attrs.has(arg):
                    walk(arg)

    walk(schema.StudyResult)
    return seen


def _flatten(tp: typing.Any) -> typing.Iterator[typing.Any]:
    yield tp
    for arg in typing.get_args(tp):
        yield from _flatten(arg)


def documented() -> dict[str, list[str]]:
    """Section name -> the field names in its table."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and current is not None:
            current.append(row.group(1))
    return sections


def test_the_walk_reaches_the_nested_classes() -> None:
    names = {c.__name__ for c in result_classes()}
    assert {"ExperimentResult", "Energy", "LatencyStats", "EnergyReading", "GpuInfo"} <= names


def test_every_result_field_is_documented() -> None:
    doc = documented()
    missing = [
        f"{cls.__name__}.{f.name}"
        for cls in result_classes()
        for f in attrs.fields(cls)
        if f.name not in doc.get(cls.__name__, [])
    ]
    assert not missing, f"document these fields in docs/results.md: {missing}"


def test_no_documented_field_is_gone() -> None:
    classes = {c.__name__: c for c in result_classes()}
    doc = documented()
    assert set(doc) <= set(classes), f"sections without a class: {set(doc) - set(classes)}"
    stale = [
        f"{name}.{field}"
        for name, fields in doc.items()
        for field in fields
        if field not in attrs.fields_dict(classes[name])
    ]
    assert not stale, f"docs/results.md documents fields that do not exist: {stale}"
