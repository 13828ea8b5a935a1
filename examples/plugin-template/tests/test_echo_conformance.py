"""The echo backend passes llem's backend conformance suite. This is all a plugin needs."""

from llem.testing import BackendConformance, check_backend
from llem_echo.backend import EchoBackend


class TestEchoConformance(BackendConformance):
    backend_class = EchoBackend
    config = {"token_delay_ms": 0.5}
    bad_configs = [{"token_delay_ms": -1}, {"vocab_size": 1}, {"typo": 1}]


def test_the_same_checks_in_one_call():
    check_backend(EchoBackend, {"token_delay_ms": 0.2})
