"""The one cattrs converter for configs and results.

Unknown keys are errors (``forbid_extra_keys``): a misspelt config key must never be
silently ignored. Scalars are structured strictly: cattrs' defaults call ``int()``,
``str()`` and ``bool()`` on whatever they get, which turns ``batch_size: 8.7`` into 8,
``model: 123`` into "123" and ``ignore_eos: "no"`` into True. Here an int field takes an
int, a float field an int or a float, a str field a str, a bool field a bool, and a list
field a list; anything else is a ``TypeError`` that the config loader turns into a
message with the file, line and key. Floats are finite (NaN and infinities are
rejected here, for every config field at once) and ints fit 64 bits.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory


class WrongType(TypeError):
    """A value of the wrong kind for its field; the message says what was expected."""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


INT_LIMIT = 2**63 - 1  # what a C engine, Arrow or NVML can hold; no setting needs more


def _structure_int(value: Any, _type: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > INT_LIMIT:
            raise WrongType(f"expected an integer of at most 2**63-1, got {value:.3e}")
        return int(value)
    raise WrongType(f"expected an integer, got {_describe(value)}")


def _structure_float(value: Any, _type: type) -> float:
    """A finite number: no float field gives NaN or an infinity a meaning (``.nan``
    would disable every comparison with it, ``.inf`` makes sleeps and timeouts crash);
    "no limit" is written ``null`` where a field allows it (``timeout_s: null``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past the float range
            raise WrongType(f"expected a finite number, got {value:.3e}") from None
        if not math.isfinite(number):
            raise WrongType(
                f"expected a finite number, got {value!r}; NaN and infinities are not "
                f"allowed (use null where a field allows 'no limit')"
            )
        return number
    raise WrongType(f"expected a number, got {_describe(value)}")


def _structure_str(value: Any, _type: type) -> str:
    if isinstance(value, str):
        return str(value)
    raise WrongType(f"expected a string, got {_describe(value)}")


def _structure_bool(value: Any, _type: type) -> bool:
    if isinstance(value, bool):
        return value
    raise WrongType(f"expected true or false, got {_describe(value)}")


def _is_homogenous_sequence(t: Any) -> bool:
    origin = get_origin(t)
    if origin is list:
        return True
    args = get_args(t)
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis


def _strict_sequence_factory(t: Any, conv: cattrs.BaseConverter) -> Any:
    inner = (
        list_structure_factory if get_origin(t) is list else homogenous_tuple_structure_factory
    )(t, conv)

    def structure(value: Any, type_: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise WrongType(f"expected a list, got {_describe(value)}")
        return inner(value, type_)

    return structure


def _is_literal_number_union(t: Any) -> bool:
    """``Literal["auto"] | int`` and the like: a word or a number (``cycles: auto``)."""
    if get_origin(t) not in (Union, types.UnionType):
        return False
    args = [a for a in get_args(t) if a is not type(None)]
    return any(get_origin(a) is Literal for a in args) and all(
        get_origin(a) is Literal or a in (int, float) for a in args
    )


def _literal_number_union_factory(t: Any, conv: cattrs.BaseConverter) -> Any:
    args = get_args(t)
    words = [w for a in args if get_origin(a) is Literal for w in get_args(a)]
    numbers = [a for a in args if a in (int, float)]
    expected = " or ".join([*(repr(w) for w in words), *(a.__name__ for a in numbers)])

    def structure(value: Any, _type: Any) -> Any:
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value in words:
            return value
        for number in numbers:
            try:
                return conv.structure(value, number)
            except WrongType:
                continue
        raise WrongType(f"expected {expected}, got {_describe(value)}")

    return structure


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_factory(_is_homogenous_sequence, _strict_sequence_factory)
    conv.register_structure_hook_factory(_is_literal_number_union, _literal_number_union_factory)
    conv.register_structure_hook_func(_is_runner_choice, _structure_runner_choice)
    return conv


def _is_runner_choice(t: Any) -> bool:
    """``execution.runner``: one runner name, or a mapping of backend -> runner name."""
    from llem.config.schema import Runner

    return t == (Runner | Mapping[str, Runner])


def _structure_runner_choice(value: Any, _type: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(r, str) for k, r in value.items()
    ):
        return dict(value)
    raise WrongType(
        f"expected a runner name or a mapping of backend: runner, got {_describe(value)}"
    )


converter = make_converter()
