"""A YAML document as plain data plus where each value came from.

ruamel.yaml's round-trip loader never constructs Python objects from tags (it keeps
them as tagged nodes), and it records line and column on every mapping and sequence.
This module turns its output into plain dicts, lists and scalars, rejects what a config
must not contain (explicit tags such as ``!!python/object``, sets, binary, dates,
non-string keys, recursive aliases), and keeps a table of positions keyed by the path
of each value, so every later error can say ``file:line:column``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from llem.errors import ConfigError

Path = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line, column


@attrs.frozen
class Location:
    """Where a value was written: a file position, or a command-line flag."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column}"


@attrs.frozen
class Document:
    """Plain data of one YAML source with the positions of its keys and values."""

    data: Any
    source: str
    value_pos: Mapping[Path, Pos] = attrs.field(factory=dict)
    key_pos: Mapping[Path, Pos] = attrs.field(factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """Position of ``path`` (its key if ``key`` and it has one), else of the nearest
        ancestor that has one, else just the source."""
        for n in range(len(path), -1, -1):
            sub = path[:n]
            pos = (
                (self.key_pos.get(sub) if key or n < len(path) else None)
                or self.value_pos.get(sub)
                or self.key_pos.get(sub)
            )
            if pos is not None:
                return Location(self.source, pos[0], pos[1])
        return Location(self.source)


def parse_yaml(text: str, source: str) -> Document:
    """Parse ``text`` (named ``source`` in messages) into a Document, or ConfigError."""
    from ruamel.yaml import YAML

    _check_shape(text, source)
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None
    except Exception as exc:  # ruamel raises YAMLError subclasses, and a few others
        raise ConfigError(_yaml_error_message(exc, source)) from None
    value_pos: dict[Path, Pos] = {}
    key_pos: dict[Path, Pos] = {}
    try:
        data = _plain(node, (), source, value_pos, key_pos, set())
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None
    return Document(data, source, value_pos, key_pos)


MAX_DEPTH = 100  # no config needs more than a few levels
MAX_VALUES = 100_000  # scalars and collections, every alias counted as what it repeats


def _check_shape(text: str, source: str) -> None:
    """Refuse, before anything is built, a document that is nested absurdly deep, holds a
    recursive alias, or expands to more than MAX_VALUES values.

    One pass over the parser's events: ``[`` or ``{`` inside a quoted string or a comment
    is not an event, so it does not count as nesting; an alias counts as the size of
    what its anchor holds, so a billion-laughs chain is measured, never expanded. Text
    that is not valid YAML passes here: the loader then says where it breaks.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    frames: list[list[Any]] = []  # open collections: [anchor, values so far]
    sizes: dict[str, int] = {}
    total = 0
    try:
        for ev in YAML(typ="rt").parse(text):
            if isinstance(ev, CollectionStartEvent):
                if len(frames) >= MAX_DEPTH:
                    raise ConfigError(
                        f"{_mark(source, ev)}: the YAML is nested too deeply "
                        f"(more than {MAX_DEPTH} levels)"
                    )
                frames.append([ev.anchor, 1])
                continue
            if isinstance(ev, CollectionEndEvent):
                anchor, size = frames.pop()
            elif isinstance(ev, ScalarEvent):
                anchor, size = ev.anchor, 1
            elif isinstance(ev, AliasEvent):
                if any(f[0] == ev.anchor for f in frames):
                    raise ConfigError(
                        f"{_mark(source, ev)}: the alias *{ev.anchor} is used inside its own "
                        f"anchor &{ev.anchor}: a recursive alias is not allowed (a config is "
                        f"a tree); write the value out instead"
                    )
                anchor, size = None, sizes.get(ev.anchor, 1)
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if frames:
                frames[-1][1] += size
                count = frames[-1][1]
            else:
                total += size
                count = total
            if count > MAX_VALUES:
                raise ConfigError(
                    f"{_mark(source, ev)}: the YAML expands to more than {MAX_VALUES:,} "
                    f"values (every alias repeats all its anchor holds, so a chain of "
                    f"aliases multiplies them); a config needs far fewer: write the "
                    f"repeated part once, or shorten the alias chain"
                )
    except ConfigError:
        raise
    except Exception:  # not valid YAML: parse_yaml reports it with its position
        return


def _mark(source: str, event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return source if mark is None else f"{source}:{mark.line + 1}:{mark.column + 1}"


def _yaml_error_message(exc: Exception, source: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).split("\n")[0] or type(exc).__name__
    context = getattr(exc, "context", None)
    where = source if mark is None else f"{source}:{mark.line + 1}:{mark.column + 1}"
    detail = f"{context}, {problem}" if context else str(problem)
    return f"{where}: not valid YAML: {detail}"


_SCALARS = (str, int, float, type(None))


def _plain(
    node: Any,
    path: Path,
    source: str,
    value_pos: dict[Path, Pos],
    key_pos: dict[Path, Pos],
    active: set[int],
) -> Any:
    """Plain data of ``node`` (recording positions of its children)."""
    _reject_tag(node, path, source, value_pos)
    if type(node).__name__ == "TaggedScalar":  # only `!!str` gets past _reject_tag
        return _text(str(node.value), path, source, value_pos)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        raise _bad(
            path, source, value_pos, f"{node} is read as a date; quote it if you meant the text"
        )
    if isinstance(node, (bytes, set, frozenset)):
        raise _bad(
            path,
            source,
            value_pos,
            f"a {type(node).__name__} is not allowed "
            "in a config (use a list, a mapping or a scalar)",
        )
    if _is_scalar_boolean(node):
        return bool(node)
    if isinstance(node, str):
        return _text(str(node), path, source, value_pos)
    if isinstance(node, _SCALARS):
        return _scalar(node)
    if id(node) in active:
        raise _bad(
            path,
            source,
            value_pos,
            "a recursive alias (an anchor used inside itself) is not allowed",
        )
    if isinstance(node, Mapping):
        active.add(id(node))
        out: dict[str, Any] = {}
        lc = getattr(node, "lc", None)
        for k, v in node.items():
            if not isinstance(k, str):
                here: dict[Path, Pos] = dict(value_pos)
                _record(lc, "key", k, path, here)
                raise _bad(path, source, here, f"keys must be text, got {k!r} ({type(k).__name__})")
            key = str(k)
            problem = surrogate_problem(key)
            if problem:  # named by position only: the key itself cannot be printed
                here = dict(value_pos)
                _record(lc, "key", k, path, here)
                raise _bad(path, source, here, f"a key: {problem}")
            _record(lc, "key", k, path + (key,), key_pos)
            _record(lc, "value", k, path + (key,), value_pos)
            out[key] = _plain(v, path + (key,), source, value_pos, key_pos, active)
        active.discard(id(node))
        return out
    if isinstance(node, (list, tuple)):
        active.add(id(node))
        lc = getattr(node, "lc", None)
        items = []
        for i, v in enumerate(node):
            _record(lc, "item", i, path + (i,), value_pos)
            items.append(_plain(v, path + (i,), source, value_pos, key_pos, active))
        active.discard(id(node))
        return items
    raise _bad(
        path, source, value_pos, f"a value of type {type(node).__name__} is not allowed in a config"
    )


def surrogate_problem(value: str) -> str | None:
    """Why ``value`` is not text, if it holds a lone UTF-16 surrogate (YAML's
    ``"\\ud800"`` escape, or an undecodable command-line byte): such a string could be
    neither hashed nor written to a result."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"the text holds U+{ord(value[exc.start]):04X}, half of a UTF-16 surrogate "
            f"pair, which is not a character; write the character itself (or a \\U "
            f"escape of its code point)"
        )
    return None


def _text(value: str, path: Path, source: str, value_pos: Mapping[Path, Pos]) -> str:
    problem = surrogate_problem(value)
    if problem:
        raise _bad(path, source, value_pos, problem)
    return value


def _scalar(node: Any) -> Any:
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return None


def _is_scalar_boolean(node: Any) -> bool:
    return type(node).__name__ == "ScalarBoolean"


_STR_TAG = "tag:yaml.org,2002:str"


def _reject_tag(node: Any, path: Path, source: str, value_pos: dict[Path, Pos]) -> None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(value, str) and value and value != _STR_TAG:
        raise _bad(
            path,
            source,
            value_pos,
            f"the YAML tag {value!r} is not allowed: configs are plain data (remove the tag)",
        )


def _record(lc: Any, what: str, key: Any, path: Path, table: dict[Path, Pos]) -> None:
    if lc is None:
        return
    try:
        line, col = getattr(lc, what)(key)
    except Exception:  # keys merged in with `<<` have no position of their own
        return
    if isinstance(line, int) and isinstance(col, int):
        table[path] = (line + 1, col + 1)


def _bad(path: Path, source: str, value_pos: Mapping[Path, Pos], message: str) -> ConfigError:
    where = Document(None, source, value_pos).locate(path)
    dotted = dotted_path(path)
    return ConfigError(f"{where}: {dotted + ': ' if dotted else ''}{message}")


def dotted_path(path: Path) -> str:
    """``("generation", "max_new_tokens")`` -> ``generation.max_new_tokens``; list
    indices as ``[i]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
