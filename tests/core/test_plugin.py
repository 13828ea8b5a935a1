"""``llem.plugin`` is the whole public surface: first-party plugins and the template use
nothing else from llem, and everything it names resolves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import llem.plugin
import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(REPO.glob("plugins/*/src")) + [REPO / "examples/plugin-template/src"]
PLUGIN_TESTS = [REPO / "examples/plugin-template/tests"]


def llem_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``llem`` module a file imports (``from llem import x``
    counts as ``llem.x`` when x is a module, else as ``llem``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "llem"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "llem":
                found += [(node.lineno, f"llem.{a.name}") for a in node.names]
            elif node.module.split(".")[0] == "llem":
                found.append((node.lineno, node.module))
    return found


def violations(roots: list[Path], allowed: set[str]) -> list[str]:
    out = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for line, module in llem_imports(path):
                if module not in allowed:
                    out.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
    return out


def test_first_party_plugins_and_the_template_import_only_llem_plugin():
    assert len(PLUGIN_SOURCES) >= 6, PLUGIN_SOURCES  # five first-party plugins + template
    assert violations(PLUGIN_SOURCES, {"llem.plugin"}) == []


def test_the_template_tests_import_only_llem_plugin_and_llem_testing():
    assert violations(PLUGIN_TESTS, {"llem.plugin", "llem.testing"}) == []


def test_the_import_check_catches_a_private_import(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from llem.plugin import Backend\nfrom llem.config.schema import X\nimport llem.errors\n"
        "from llem import interfaces\n"
    )
    got = [m for _, m in llem_imports(tmp_path / "bad.py")]
    assert got == ["llem.plugin", "llem.config.schema", "llem.errors", "llem.interfaces"]


@pytest.mark.parametrize("name", llem.plugin.__all__)
def test_every_public_name_resolves(name):
    assert getattr(llem.plugin, name) is not None


def test_core_and_every_plugin_ship_py_typed():
    packages = [REPO / "core/src/llem"] + [
        p for src in PLUGIN_SOURCES for p in src.iterdir() if (p / "__init__.py").exists()
    ]
    assert [p for p in packages if not (p / "py.typed").exists()] == []


def test_importing_llem_plugin_loads_no_config_or_telemetry_module():
    """Plugin hook modules import llem.plugin and ``llem --help`` imports them: the
    heavy parts behind it load on first use."""
    code = (
        "import sys, llem.plugin; print(sorted(m for m in sys.modules if m.startswith("
        "('llem.config', 'llem.telemetry', 'llem.architectures', 'llem.results', 'structlog'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
