"""Plan tests load configs against the config tests' fake plugins, without user config."""

from tests.core.config.conftest import fake_plugins, no_user_config

__all__ = ["fake_plugins", "no_user_config"]
