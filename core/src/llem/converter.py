"""The one cattrs converter for configs and results.

Unknown keys are errors (``forbid_extra_keys``): a misspelt config key must never be
silently ignored. Scalars are structured strictly: cattrs' defaults call ``int()``,
``str()`` and ``bool()`` on whatever they get, which turns ``batch_size: 8.7`` into 8,
``model: 123`` into "123" and ``ignore_eos: "no"`` into True. Here an int field takes an
int, a float field an int or a float, a str field a str, a bool field a bool, and a list
field a list; anything else is a ``TypeError`` that the config loader turns into a
message with the file, line and key.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory


class WrongType(TypeError):
    """A value of the wrong kind for its field; the message says what was expected."""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _structure_int(value: Any, _type: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise WrongType(f"expected an integer, got {_describe(value)}")


def _structure_float(value: Any, _type: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
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


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_factory(_is_homogenous_sequence, _strict_sequence_factory)
    return conv


converter = make_converter()
