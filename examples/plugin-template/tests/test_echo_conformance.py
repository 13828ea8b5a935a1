"""The echo backend passes llem's backend conformance suite. This is all a plugin needs."""

from llem.testing import BackendConformance, check_backend
from llem_echo.backend import EchoBackend


class TestEchoConformance(BackendConformance):
    backend_class = EchoBackend
    config = {"token_delay_ms": 0.5}
    bad_configs = [{"token_delay_ms": -1}, {"vocab_size": 1}, {"typo": 1}]


def test_the_same_checks_in_one_call():
    check_backend(EchoBackend, {"token_delay_ms": 0.2}, bad_configs=[{"token_delay_ms": -1}])


def test_stream_yields_one_token_per_step_and_finishes():
    import asyncio

    from llem.plugin import Request

    backend = EchoBackend()
    backend.load(None, [])  # type: ignore[arg-type]  # echo needs no experiment
    request = Request(id=1, prompt=None, input_ids=(1, 2), max_new_tokens=3)

    async def collect() -> list:
        return [chunk async for chunk in backend.stream(request, None)]

    chunks = asyncio.run(collect())
    assert [c.new_tokens for c in chunks] == [1, 1, 1]
    assert [c.finished for c in chunks] == [False, False, True]
