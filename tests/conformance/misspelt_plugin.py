"""A plugin whose hook is misspelt (``register_backend``): it used to load as "ok" and
register nothing."""

from __future__ import annotations

from llem.plugin import hookimpl


@hookimpl
def register_backend(register):  # type: ignore[no-untyped-def]
    from tests.conformance.good_plugin import StepBackend

    register(StepBackend)
