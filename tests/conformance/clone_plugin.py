"""A second distribution's backend that takes the name of good_plugin's (``good_step``)."""

from __future__ import annotations

from llem.plugin import hookimpl

from tests.conformance.good_plugin import StepBackend


class CloneStepBackend(StepBackend):
    name = "good_step"


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(CloneStepBackend)
