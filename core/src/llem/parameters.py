"""Parameter coverage: which of an engine's knobs a backend exposes, and which not yet.

A backend's *first-class* knobs are the fields of its config section (name, type,
default, and the doc its class docstring gives as ``- ``name``: what it does``, or the
field's ``metadata={"doc": ...}``). The impactful knobs it does not expose yet are the
backend's declared ``missing_knobs`` (engine argument -> why it matters and how to reach
it meanwhile, usually the section's ``extra``). ``llem config --params BACKEND`` prints
both; docs/parameters.md is ``markdown_page`` of the first-party backends, regenerated
with ``python -m llem.parameters docs/parameters.md`` (a test keeps them in sync).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from llem.interfaces import Backend

FIRST_PARTY_BACKENDS = ("pytorch", "vllm", "trtllm")
_BULLET = re.compile(r"^-\s+``\w+``")
_NAMED = re.compile(r"^``\w+``")
_NAME = re.compile(r"``(\w+)``")


@attrs.frozen
class Knob:
    name: str
    type: str
    default: str
    doc: str


def first_class(config_type: type | None) -> list[Knob]:
    """The fields of ``config_type`` (an attrs class) as knobs, in declaration order."""
    if config_type is None:
        return []
    docs = field_docs(config_type)
    attrs.resolve_types(config_type)  # as cattrs does on first use: one rendering, always
    return [
        Knob(
            f.name,
            _type_name(f.type),
            _default(f),
            f.metadata.get("doc") or docs.get(f.name, ""),
        )
        for f in attrs.fields(config_type)
    ]


def _type_name(t: Any) -> str:
    if isinstance(t, type) and not getattr(t, "__args__", None):
        return t.__name__
    return str(t).replace("typing.", "").replace("collections.abc.", "")


def field_docs(config_type: type) -> dict[str, str]:
    """Field name -> doc, from the items of the class docstring. An item starts with
    ``- ``name``:`` (or, in a docstring without such bullets, a line starting with
    ``name``:), may name several fields (``- ``a`` / ``b``, ``c``: ...``) and runs to the
    next item or a blank line."""
    lines = [line.strip() for line in (config_type.__doc__ or "").splitlines()]
    bullets = any(_BULLET.match(line) for line in lines)
    items: list[str] = []
    current: str | None = None
    for text in lines:
        if (_BULLET if bullets else _NAMED).match(text):
            if current is not None:
                items.append(current)
            current = text.removeprefix("- ")
        elif text and current is not None:
            current += " " + text
        elif current is not None:  # a blank line ends the item
            items.append(current)
            current = None
    if current is not None:
        items.append(current)
    docs: dict[str, str] = {}
    for item in items:
        head, sep, doc = item.partition(": ")
        if sep:
            docs.update(dict.fromkeys(_NAME.findall(head), doc.strip()))
    return docs


def _default(field: Any) -> str:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory() if not default.takes_self else "(computed)"
    return "(required)" if default is attrs.NOTHING else repr(default)


def coverage(backend: type[Backend[Any]]) -> tuple[int, int]:
    """(first-class knobs, declared missing knobs) of ``backend``."""
    return len(first_class(backend.config_type)), len(getattr(backend, "missing_knobs", {}))


def markdown(backend: type[Backend[Any]]) -> str:
    """One backend's section of docs/parameters.md."""
    knobs = first_class(backend.config_type)
    missing: Mapping[str, str] = getattr(backend, "missing_knobs", {})
    lines = [
        f"## {backend.name}",
        "",
        f"{len(knobs)} first-class knobs (`{backend.name}:` section), {len(missing)} known "
        f"impactful knobs not exposed yet.",
        "",
        "| knob | type | default | what it does |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{backend.name}.{k.name}` | `{_cell(k.type)}` | `{_cell(k.default)}` | {_cell(k.doc)} |"
        for k in knobs
    ]
    if missing:
        lines += ["", "Not exposed yet:", "", "| engine knob | why it matters, how to set it now |"]
        lines += ["|---|---|"] + [f"| `{k}` | {_cell(v)} |" for k, v in missing.items()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEADER = """\
# Parameters

Every knob a backend exposes first-class (its config section: name, type, default,
what it does) and the impactful engine knobs it does not expose yet, so that the
coverage can be read. `llem config --params BACKEND` prints the same for any installed
backend, third-party ones included.

A knob not exposed yet is reachable through the section's `extra`, which the backend
passes to its engine unchanged (vLLM: `vllm.LLM(...)`; TensorRT-LLM: `tensorrt_llm.LLM(...)`;
PyTorch: the `transformers.GenerationConfig` of every `generate` call, while
`pytorch.from_pretrained_kwargs` goes to `from_pretrained`). `extra` is recorded with
the result and hashed like every other field; it may not set what a first-class knob
sets. The top-level `extra` of older configs is refused with where it moved.

This page is generated: `python -m llem.parameters docs/parameters.md`.
"""


def markdown_page(backends: Sequence[type[Backend[Any]]]) -> str:
    return HEADER + "".join("\n" + markdown(b) for b in backends)


def render(backend: type[Backend[Any]], console: Any) -> None:
    """The ``llem config --params BACKEND`` tables."""
    from rich.markup import escape
    from rich.table import Table

    knobs = first_class(backend.config_type)
    table = Table(title=f"{backend.name}: first-class knobs", title_justify="left")
    for col in ("knob", "type", "default", "what it does"):
        table.add_column(col, overflow="fold")
    for k in knobs:
        table.add_row(f"{backend.name}.{k.name}", escape(k.type), escape(k.default), escape(k.doc))
    console.print(table)
    missing: Mapping[str, str] = getattr(backend, "missing_knobs", {})
    if missing:
        gaps = Table(title=f"{backend.name}: impactful knobs not exposed yet", title_justify="left")
        gaps.add_column("engine knob", overflow="fold")
        gaps.add_column("why it matters, how to set it now", overflow="fold")
        for name, why in missing.items():
            gaps.add_row(escape(name), escape(why))
        console.print(gaps)
    console.print(
        f"{len(knobs)} first-class, {len(missing)} not exposed yet "
        f"(set those through {backend.name}.extra)",
        markup=False,
    )


def main(argv: Sequence[str]) -> int:
    """``python -m llem.parameters PATH``: write the page of the first-party backends."""
    from llem.plugins import get_registry

    registry = get_registry()
    page = markdown_page([registry.get("backend", n) for n in FIRST_PARTY_BACKENDS])
    if argv:
        with open(argv[0], "w", encoding="utf-8") as fh:
            fh.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
