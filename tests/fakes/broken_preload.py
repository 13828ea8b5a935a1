"""A module whose import fails: as a preload, it kills the fork server."""

raise RuntimeError("tests.fakes.broken_preload fails on import, as it should")
