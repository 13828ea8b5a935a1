"""The user config: machine-local defaults under every config file.

``$LLEM_USER_CONFIG`` if set (an empty value turns the user config off), else
``$XDG_CONFIG_HOME/llem/config.yaml``, else ``~/.config/llem/config.yaml``. It holds the
keys of an experiment that belong to the machine rather than to a study -- output
directory, thermal floor, baseline, energy and carbon settings, devices, plugin
sections -- and is merged under each experiment, so a config file's own values win.
It may not hold ``sweep``, ``experiments`` or ``name``.
"""

from __future__ import annotations

import os
from pathlib import Path

from llem.config.document import Document, parse_yaml
from llem.errors import ConfigError

ENV_VAR = "LLEM_USER_CONFIG"


def user_config_path() -> Path | None:
    """Where the user config is looked for (None: turned off by an empty env var)."""
    explicit = os.environ.get(ENV_VAR)
    if explicit is not None:
        return Path(explicit).expanduser() if explicit.strip() else None
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "llem" / "config.yaml"


def read_user_config() -> tuple[Path | None, str | None]:
    """The path and text of the user config, text None when there is none."""
    path = user_config_path()
    if path is None or not path.is_file():
        return path, None
    try:
        return path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the user config: {exc} (fix it, or set {ENV_VAR}= to ignore it)"
        ) from None


def load_user_config() -> Document | None:
    """The user config as a Document (a mapping), or None when there is none."""
    path, text = read_user_config()
    if path is None or text is None:
        return None
    doc = parse_yaml(text, str(path))
    if doc.data is None:
        return Document({}, doc.source)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{path}: the user config must be a mapping of keys "
            f"(like a config file), got {type(doc.data).__name__}"
        )
    return doc
