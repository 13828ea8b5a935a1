"""The example third-party plugin (examples/plugin-template) passes the suite, from the
main test run too; importable from its source tree when not installed."""

from __future__ import annotations

import sys
from pathlib import Path

from llem.testing import BackendConformance

try:
    from llem_echo.backend import EchoBackend
except ImportError:  # not pip-installed: use the source tree (the entry-point check skips)
    sys.path.insert(
        0, str(Path(__file__).resolve().parents[2] / "examples" / "plugin-template" / "src")
    )
    from llem_echo.backend import EchoBackend


class TestTemplateEchoConformance(BackendConformance):
    backend_class = EchoBackend
    config = {"token_delay_ms": 0.2}
    bad_configs = [{"token_delay_ms": -1}]
