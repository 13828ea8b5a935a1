"""Config problems as messages a person can act on.

cattrs reports structuring failures as a tree of exceptions annotated with the
attribute or index they happened at; attrs validators and ``__attrs_post_init__``
raise ValueError/TypeError from the constructor. This module walks that tree into
``Issue`` objects (key path + what was expected + a did-you-mean), and formats them
with the file:line:column of the layer that wrote the value.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from llem.config.catalog import unknown_key_message
from llem.config.document import Path, dotted_path
from llem.config.layers import Origins, get_path
from llem.converter import WrongType

MAX_LINES = 20


@attrs.frozen
class Issue:
    """One problem at ``path`` (in the experiment's data). ``at_key``: point at the key
    (unknown keys) rather than at the value."""

    path: Path
    message: str
    at_key: bool = False

    def render(self, origins: Origins) -> str:
        where = origins.locate(self.path, key=self.at_key)
        dotted = dotted_path(self.path)
        if not dotted or self.message.startswith(dotted):
            return f"{where}: {self.message}"
        return f"{where}: {dotted}: {self.message}"


def structuring_issues(exc: BaseException, data: Any, cl: Any, base: Path = ()) -> list[Issue]:
    """Issues of a cattrs structuring failure of ``data`` into ``cl`` at ``base``."""
    return list(_walk(exc, base, cl, data, base))


def _walk(exc: BaseException, path: Path, typ: Any, data: Any, base: Path) -> Iterator[Issue]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                yield from _walk(sub, path + (note.name,), note.type, data, base)
            elif isinstance(note, IterableValidationNote):
                yield from _walk(sub, path + (note.index,), note.type, data, base)
            else:
                yield from _walk(sub, path, typ, data, base)
        for sub in without:
            yield from _walk(sub, path, getattr(exc, "cl", typ), data, base)
        return
    value = get_path(data, path[len(base) :], _MISSING)
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            yield Issue(path + (key,), unknown_key_message(key, allowed), at_key=True)
        return
    if isinstance(exc, KeyError) and value is _MISSING:
        hint = (
            " (a builtin: id such as builtin:tiny-llama, a hub id or a local directory)"
            if path == ("model",)
            else ""
        )
        yield Issue(path, "required key missing" + hint, at_key=True)
        return
    if isinstance(exc, WrongType):
        yield Issue(path, str(exc))
        return
    if get_origin(typ) is Literal:
        yield Issue(path, literal_message(value, get_args(typ)))
        return
    if attrs.has(typ) and not isinstance(exc, ValueError) and not _is_mapping(value):
        yield Issue(path, f"expected a mapping (a section of keys), got {_show(value)}")
        return
    if _is_mapping_type(typ) and not _is_mapping(value):
        yield Issue(path, f"expected a mapping, got {_show(value)}")
        return
    if isinstance(exc, (ValueError, TypeError)) and attrs.has(typ):
        yield _validator_issue(exc, path, typ)
        return
    yield Issue(path, f"{type(exc).__name__}: {exc}")


_MISSING = object()
_ATTRS_VALIDATOR = re.compile(r"^'(\w+)' must be (.+): (.*)$", re.S)


def _validator_issue(exc: BaseException, path: Path, cl: type) -> Issue:
    """An error raised by ``cl``'s constructor: a validator or a cross-field rule. The
    message names the field; point at the first field of ``cl`` it mentions."""
    text = str(exc)
    names = [a.name for a in attrs.fields(cl)]
    m = _ATTRS_VALIDATOR.match(text)
    if m and m.group(1) in names:
        return Issue(path + (m.group(1),), f"must be {m.group(2)}, got {m.group(3)}")
    if "must be in" in text and "'" in text:  # attrs.validators.in_
        quoted = re.findall(r"'(\w+)'", text)
        field = next((q for q in quoted if q in names), None)
        if field:
            return Issue(path + (field,), text)
    mentioned = sorted(
        (text.find(n), n) for n in names if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)
    )
    if mentioned:
        return Issue(path + (mentioned[0][1],), text)
    return Issue(path, text)


def literal_message(value: Any, options: tuple[Any, ...]) -> str:
    shown = ", ".join(str(o) for o in options)
    msg = f"expected one of {shown}, got {_show(value)}"
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.5)
        if close:
            msg += f"; did you mean {close[0]!r}?"
    return msg


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _is_mapping_type(typ: Any) -> bool:
    origin = get_origin(typ) or typ
    return origin in (dict, typing.Mapping) or getattr(origin, "__name__", "") == "Mapping"


def render_all(lines: list[str], header: str) -> str:
    """One message for many problems: the header, then one line each (deduplicated,
    at most MAX_LINES)."""
    unique = list(dict.fromkeys(lines))
    shown = unique[:MAX_LINES]
    body = "\n".join(f"  {line}" for line in shown)
    more = len(unique) - len(shown)
    tail = f"\n  ... and {more} more" if more > 0 else ""
    if len(unique) == 1:
        return unique[0]
    return f"{header} ({len(unique)} problems):\n{body}{tail}"
