"""One table of warning codes: every code the source writes is in it, and the doc is current."""

from __future__ import annotations

import ast
from pathlib import Path

from llem.measure import warning_codes

ROOT = Path(__file__).resolve().parents[3]
# the calls that create a result warning; the first argument (or code=) is its code
CONSTRUCTORS = {"W", "MeasurementWarning", "WorkloadNote"}


def codes_in_source() -> dict[str, str]:
    """code -> first place it is written, over core and the first-party plugins."""
    files = sorted((ROOT / "core" / "src").rglob("*.py"))
    files += sorted((ROOT / "plugins").glob("*/src/**/*.py"))
    found: dict[str, str] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in CONSTRUCTORS:
                continue
            arg = node.args[0] if node.args else None
            arg = next((k.value for k in node.keywords if k.arg == "code"), arg)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_code_written_by_the_source_is_in_the_table() -> None:
    found = codes_in_source()
    assert {"short_window", "throttling", "no_meter", "fewer_prompts"} <= set(found)
    missing = {c: where for c, where in found.items() if c not in warning_codes.BY_CODE}
    assert not missing, f"add these codes to llem.measure.warning_codes.CODES: {missing}"


def test_the_table_has_no_code_the_source_never_writes() -> None:
    stale = set(warning_codes.BY_CODE) - set(codes_in_source())
    assert not stale, f"no code writes {sorted(stale)}: remove them from CODES"


def test_codes_are_unique_sorted_and_say_how_to_fix() -> None:
    names = [c.code for c in warning_codes.CODES]
    assert names == sorted(set(names))
    assert all(c.meaning and c.fix for c in warning_codes.CODES)


def test_docs_warnings_md_is_rendered_from_the_table() -> None:
    doc = (ROOT / "docs" / "warnings.md").read_text(encoding="utf-8")
    assert doc == warning_codes.markdown(), (
        "docs/warnings.md is stale: python -m llem.measure.warning_codes > docs/warnings.md"
    )
    for code in warning_codes.BY_CODE:
        assert f"| `{code}` |" in doc
