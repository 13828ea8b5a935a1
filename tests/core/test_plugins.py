"""Plugin discovery: third-party entry points, LLEM_PLUGINS, broken plugins, clashes."""

from __future__ import annotations

import os
import sys
import textwrap

import llem.plugins
import pytest
from llem.errors import PluginError
from llem.plugins import get_registry, load_registry

from tests.core.config.fake_plugins import (
    AlphaBackend,
    AlphaPlugin,
    ClashPlugin,
    FakeEntryPoint,
    forget_registry,
    standard_entry_points,
    use_fake_plugins,
)
from tests.fakes.dist_info import announce


@pytest.fixture(autouse=True)
def fresh_registry():
    yield
    forget_registry()


def test_third_party_distribution_is_discovered_through_its_entry_point(tmp_path, monkeypatch):
    """A real dist-info on sys.path, found by importlib.metadata like an installed wheel."""
    pkg = tmp_path / "llem_thirdparty_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        import attrs
        from llem import Backend, hookimpl

        @attrs.frozen
        class DemoConfig:
            knob: int = 1

        class DemoBackend(Backend):
            name = "demo3p"
            config_type = DemoConfig

        @hookimpl
        def register_backends(register):
            register(DemoBackend)
    """)
    )
    announce(tmp_path, "llem-thirdparty-demo", "0.7", "demo3p", "llem_thirdparty_demo")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LLEM_PLUGINS", "demo3p")
    registry = load_registry("demo3p")
    assert "demo3p" in registry.backends
    info = next(p for p in registry.plugins if p.name == "demo3p")
    assert (info.distribution, info.version, info.status) == ("llem-thirdparty-demo", "0.7", "ok")
    assert info.components == ("backend:demo3p",)
    assert registry.backends["demo3p"].distribution == "llem-thirdparty-demo"
    sys.modules.pop("llem_thirdparty_demo", None)


def test_builtins_register_through_the_same_hooks(monkeypatch):
    registry = use_fake_plugins(monkeypatch, [])
    assert {"nvml"} <= set(registry.meters) and {"json", "parquet"} <= set(registry.sinks)
    assert all(p.distribution == "llem-core" and p.status == "ok" for p in registry.builtins)


def test_llem_plugins_filter(monkeypatch):
    registry = use_fake_plugins(monkeypatch, only="alpha")
    assert set(registry.backends) == {"alpha"}
    status = {p.name: p.status for p in registry.plugins}
    assert status == {"alpha": "ok", "beta": "disabled", "meters": "disabled"}
    with pytest.raises(PluginError, match="disabled: LLEM_PLUGINS='alpha' does not name it"):
        registry.get("backend", "beta")


def test_empty_llem_plugins_loads_only_builtins(monkeypatch):
    registry = use_fake_plugins(monkeypatch, only="")
    assert registry.backends == {}
    assert "nvml" in registry.meters


def test_broken_plugin_is_listed_and_only_its_use_fails(monkeypatch):
    eps = [
        *standard_entry_points(),
        FakeEntryPoint(
            "vllm", ImportError("No module named 'llem_vllm.engine'"), "llem-vllm", "0.1.0"
        ),
    ]
    registry = use_fake_plugins(monkeypatch, eps)
    broken = next(p for p in registry.plugins if p.name == "vllm")
    assert broken.status == "broken" and "No module named" in (broken.error or "")
    assert "alpha" in registry.backends
    with pytest.raises(PluginError, match="plugin vllm \\(llem-vllm\\) is broken"):
        registry.get("backend", "vllm")


def test_plugin_whose_hook_raises_is_broken(monkeypatch):
    class Raising:
        @llem.hookimpl
        def register_backends(self, register):
            raise RuntimeError("boom")

    registry = use_fake_plugins(monkeypatch, [FakeEntryPoint("bad", Raising(), "llem-bad")])
    assert next(p for p in registry.plugins if p.name == "bad").status == "broken"


def test_a_misspelt_hook_marks_the_plugin_broken_with_the_hook_it_meant(monkeypatch):
    class Misspelt:
        @llem.hookimpl
        def register_backend(self, register):  # the hook is register_backends
            register(AlphaBackend)

    eps = [FakeEntryPoint("typo", Misspelt(), "llem-typo"), *standard_entry_points()[1:]]
    registry = use_fake_plugins(monkeypatch, eps)
    info = next(p for p in registry.plugins if p.name == "typo")
    assert info.status == "broken"
    assert "unknown hook 'register_backend' (did you mean 'register_backends'?)" in info.error
    assert "beta" in registry.backends and "alpha" not in registry.backends
    from llem.inventory import plugin_rows

    row = next(r for r in plugin_rows(registry) if r.name == "typo")  # what `llem config` shows
    assert row.status == "broken" and "did you mean 'register_backends'" in row.detail


def test_a_plugin_with_a_misspelt_hook_registers_none_of_its_components(monkeypatch):
    class HalfRight:
        @llem.hookimpl
        def register_backends(self, register):
            register(AlphaBackend)

        @llem.hookimpl
        def register_sink(self, register):
            pass

    registry = use_fake_plugins(monkeypatch, [FakeEntryPoint("half", HalfRight(), "llem-half")])
    assert registry.backends == {}
    info = next(p for p in registry.plugins if p.name == "half")
    assert info.status == "broken" and "did you mean 'register_sinks'" in info.error


def test_two_components_with_one_name_is_an_error_naming_both_distributions(monkeypatch):
    eps = [
        FakeEntryPoint("alpha", AlphaPlugin(), "llem-alpha"),
        FakeEntryPoint("clash", ClashPlugin(), "llem-clash"),
    ]
    registry = use_fake_plugins(monkeypatch, eps)
    with pytest.raises(PluginError) as info:
        registry.get("backend", "alpha")
    msg = str(info.value)
    assert "two backends are registered as 'alpha'" in msg
    assert "llem-alpha" in msg and "llem-clash" in msg
    clash = next(p for p in registry.plugins if p.name == "clash")
    assert clash.status == "broken" and "llem-alpha" in (clash.error or "")


def test_missing_first_party_component_says_what_to_install(monkeypatch):
    registry = use_fake_plugins(monkeypatch)
    with pytest.raises(PluginError, match="pip install llem-trtllm"):
        registry.get("backend", "trtllm")
    with pytest.raises(PluginError, match="did you mean 'alpha'"):
        registry.get("backend", "alpah")


def test_get_registry_is_cached(monkeypatch):
    use_fake_plugins(monkeypatch)
    assert get_registry() is get_registry()


def test_loading_the_registry_imports_no_engine():
    """Plugins must stay cheap to import: engines are imported in the worker only."""
    import subprocess

    code = (
        "import sys; from llem.plugins import get_registry; get_registry(); "
        "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'zeus', 'codecarbon', "
        "'tensorrt_llm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_listing_commands_imports_no_component(tmp_path):
    """``llem --help`` imports every plugin's hook module (to list its commands) but no
    backend, meter or sink module, nor structlog: that is what keeps it fast. The
    components are imported when a registry with components is asked for."""
    import subprocess

    pkg = tmp_path / "llem_lazy_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        from llem import hookimpl

        @hookimpl
        def register_backends(register):
            from llem_lazy_demo.backend import LazyBackend
            register(LazyBackend)

        @hookimpl
        def register_commands(cli):
            @cli.command(name="lazy-demo")
            def lazy_demo():
                \"\"\"A command of the demo plugin.\"\"\"
    """)
    )
    (pkg / "backend.py").write_text(
        textwrap.dedent("""
        from llem import Backend

        class LazyBackend(Backend):
            name = "lazydemo"
    """)
    )
    announce(tmp_path, "llem-lazy-demo", "0.1", "lazydemo", "llem_lazy_demo")
    components = (
        "llem_lazy_demo.backend",
        "llem.telemetry.nvml_meter",
        "llem.results.sinks",
        "llem_pytorch.backend",
        "llem_vllm.backend",
        "llem_trtllm.backend",
        "llem_zeus.meter",
        "llem_codecarbon.meter",
        "structlog",
    )
    code = textwrap.dedent(f"""
        import sys
        from llem.cli import cli
        try:
            cli(["--help"], prog_name="llem")
        except SystemExit:
            pass
        print("HOOKS:", all(m in sys.modules for m in ("llem.builtins", "llem_lazy_demo")))
        print("IMPORTED:", [m for m in {components!r} if m in sys.modules])
        from llem.plugins import get_registry
        print("BACKEND:", get_registry().backends["lazydemo"].__module__)
    """)
    env = {k: v for k, v in os.environ.items() if k != "LLEM_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "lazy-demo" in out and "A command of the demo plugin." in out
    assert "HOOKS: True" in out
    assert "IMPORTED: []" in out
    assert "BACKEND: llem_lazy_demo.backend" in out


def test_components_are_collected_once_when_first_asked_for(monkeypatch):
    calls = []

    class Counting:
        @llem.hookimpl
        def register_backends(self, register):
            calls.append(1)
            register(AlphaBackend)

    use_fake_plugins(monkeypatch, [FakeEntryPoint("alpha", Counting(), "llem-alpha")])
    calls.clear()  # use_fake_plugins collected once already
    registry = get_registry(refresh=True, components=False)
    assert calls == [] and registry.backends == {}
    assert get_registry() is registry and "alpha" in registry.backends
    get_registry()
    assert calls == [1]
