"""llem.testing's streaming check passes the fake engine and catches a bad stream."""

from __future__ import annotations

import pytest
from llem import TokenChunk
from llem.testing import check_streaming, experiment_for

from tests.fakes.backend import FakeBackend, FakeBackendConfig


def cfg():  # type: ignore[no-untyped-def]
    return experiment_for(FakeBackend, FakeBackendConfig(step_s=0.001), "fake-model")


def test_the_fake_streaming_engine_passes():
    check_streaming(FakeBackend, FakeBackendConfig(step_s=0.001), cfg(), ())


class NeverFinishes(FakeBackend):
    async def stream(self, request, gen):  # type: ignore[no-untyped-def]
        for _ in range(request.max_new_tokens):
            yield TokenChunk(1)


class TooManyTokens(FakeBackend):
    async def stream(self, request, gen):  # type: ignore[no-untyped-def]
        yield TokenChunk(request.max_new_tokens + 1, finished=True)


@pytest.mark.parametrize(
    ("backend", "says"),
    [(NeverFinishes, "finished=True"), (TooManyTokens, "output tokens, asked")],
)
def test_a_bad_stream_fails_the_check_with_what_is_wrong(backend, says):  # type: ignore[no-untyped-def]
    with pytest.raises(AssertionError, match=says):
        check_streaming(backend, FakeBackendConfig(), cfg(), ())
