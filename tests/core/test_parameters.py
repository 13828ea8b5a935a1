"""Parameter coverage: each backend's first-class knobs and the impactful ones missing,
as ``llem config --params`` prints them and docs/parameters.md records them."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from llem.cli import cli
from llem.parameters import FIRST_PARTY_BACKENDS, field_docs, first_class, markdown_page
from llem.plugins import get_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"


def first_party() -> list[type]:
    registry = get_registry()
    missing = [n for n in FIRST_PARTY_BACKENDS if n not in registry.backends]
    if missing:
        pytest.skip(f"first-party backends not installed here: {missing}")
    return [registry.backends[n] for n in FIRST_PARTY_BACKENDS]


def test_docs_parameters_md_is_what_the_command_generates():
    assert DOC.read_text("utf-8") == markdown_page(first_party()), (
        "docs/parameters.md is stale: run python -m llem.parameters docs/parameters.md"
    )


@pytest.mark.parametrize("name", FIRST_PARTY_BACKENDS)
def test_every_first_class_knob_of_a_first_party_backend_is_documented(name):
    backend = next(b for b in first_party() if b.name == name)
    undocumented = [k.name for k in first_class(backend.config_type) if not k.doc]
    assert undocumented == [], f"{name}: document these in the section's docstring"


@pytest.mark.parametrize("name", FIRST_PARTY_BACKENDS)
def test_missing_knobs_are_declared_and_none_is_first_class(name):
    backend = next(b for b in first_party() if b.name == name)
    fields = {f.name for f in attrs.fields(backend.config_type)}
    assert backend.missing_knobs and "extra" in fields
    assert not set(backend.missing_knobs) & fields


def test_llem_config_params_lists_knobs_defaults_and_what_is_missing():
    first_party()
    out = CliRunner().invoke(
        cli, ["config", "--params", "vllm"], prog_name="llem", terminal_width=200
    )
    assert out.exit_code == 0, out.output
    assert "vllm.max_num_seqs" in out.output and "0.9" in out.output
    assert "speculative_config" in out.output and "not exposed yet" in out.output


def test_llem_config_params_of_an_unknown_backend_says_what_is_installed():
    out = CliRunner().invoke(cli, ["config", "--params", "vlm"], prog_name="llem")
    assert out.exit_code != 0 and "no backend named 'vlm'" in out.output


def test_a_docstring_item_may_document_several_fields_over_several_lines():
    @attrs.frozen
    class Section:
        """Options.

        - ``a`` / ``b``, ``c`` (all
          three): shared doc
          over lines.
        - ``d``: own.

        Prose: not an item.
        """

        a: int = 1
        b: int = 2
        c: int = 3
        d: int = 4

    docs = field_docs(Section)
    assert docs == dict.fromkeys("abc", "shared doc over lines.") | {"d": "own."}
    assert [k.default for k in first_class(Section)] == ["1", "2", "3", "4"]
