"""YAML -> plain data with positions; what a config may not contain."""

from __future__ import annotations

import pytest
from llem.config.document import parse_yaml
from llem.errors import ConfigError


def test_plain_data_and_one_based_positions():
    doc = parse_yaml("a: 1\nb:\n  c: [x, {d: 2.5}]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", {"d": 2.5}]}}
    assert type(doc.data["b"]["c"][1]["d"]) is float
    assert doc.key_pos[("b", "c")] == (3, 3)
    assert doc.value_pos[("b", "c", 1, "d")] == (3, 14)
    assert str(doc.locate(("b", "c", 0))) == "f.yaml:3:7"
    assert str(doc.locate(("b", "missing"))) == "f.yaml:2:1"  # the key of the nearest ancestor


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: !!python/object/apply:os.system ['true']\n", "the YAML tag"),
        ("a: !!python/name:os.system ''\n", "the YAML tag"),
        ("a: !!binary aGVsbG8=\n", "not allowed"),
        ("a: !!set {x}\n", "not allowed"),
        ("a: 2024-01-01\n", "read as a date; quote it"),
        ("1: x\n", "keys must be text"),
        ("&a [*a]\n", "recursive alias"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_rejected(text, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_yaml(text, "f.yaml")


def test_str_tag_merge_keys_and_aliases_are_plain_data():
    doc = parse_yaml("x: !!str 5\nbase: &b {k: 1}\nother: {<<: *b, j: 2}\n", "f.yaml")
    assert doc.data == {"x": "5", "base": {"k": 1}, "other": {"j": 2, "k": 1}}


def test_deep_nesting_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_yaml("[" * 5000 + "]" * 5000, "f.yaml")


@pytest.mark.parametrize(
    "text,where",
    [
        ('model: "\\ud800\\udc00"\n', "f.yaml:1:8: model: "),  # a JSON-style surrogate pair
        ('a: {b: !!str "\\udfff"}\n', "f.yaml:1:8: a.b: "),
        ('a:\n  "x\\udc80": 1\n', "f.yaml:2:3: a: a key: "),  # the key itself is not printed
    ],
)
def test_lone_surrogates_are_a_config_error_with_the_place(text, where):
    with pytest.raises(ConfigError) as err:
        parse_yaml(text, "f.yaml")
    assert str(err.value).startswith(where)
    assert "surrogate" in str(err.value)
    str(err.value).encode("utf-8")  # the message itself can be printed


def test_a_character_outside_the_bmp_written_as_one_escape_is_text():
    assert parse_yaml('m: "\\U00010000"\n', "f.yaml").data == {"m": "\U00010000"}


# -- bounds: aliases counted not expanded, recursion, nesting (issue 18, class 4 and 8) --


def _laughs(levels: int, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_chain_that_expands_past_the_limit_is_refused_without_expanding():
    import time

    from llem.config.document import MAX_VALUES, parse_yaml

    text = _laughs(9)  # the classic billion laughs: 9**10 leaves in about half a KB
    assert len(text) < 600
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=f"more than {MAX_VALUES:,} values") as info:
        parse_yaml(text, "laughs.yaml")
    assert time.monotonic() - t0 < 0.5
    assert str(info.value).startswith("laughs.yaml:")


def test_aliases_within_the_limit_still_expand():
    from llem.config.document import parse_yaml

    assert parse_yaml(_laughs(2, 3), "f").data["l2"] == [[["lol"] * 3] * 3] * 3


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: *x}\n", "a: &x\n  b: [1, *x]\n"])
def test_a_recursive_alias_is_refused_with_its_position(text):
    from llem.config.document import parse_yaml

    with pytest.raises(ConfigError, match=r"f:\d+:\d+: the alias \*x is used inside its own"):
        parse_yaml(text, "f")


def test_brackets_in_quoted_strings_and_comments_are_not_nesting():
    from llem.config.document import parse_yaml

    text = "name: '" + "[" * 150 + "'\n# " + "{" * 150 + '\nmodel: "' + "[" * 150 + '"\n'
    doc = parse_yaml(text, "f")
    assert doc.data["name"] == "[" * 150


def test_real_deep_nesting_is_still_refused():
    from llem.config.document import parse_yaml

    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_yaml("a: " + "[" * 150 + "]" * 150 + "\n", "f")
