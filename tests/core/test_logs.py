"""llem.logs: console output by level, JSON lines into the run directory's llem.log."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from llem import logs


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logs._state.update(configured=False, debug=False, console=None)
    structlog.reset_defaults()


def test_run_log_gets_json_lines(tmp_path):
    logs.configure()
    handler = logs.add_run_log(tmp_path)
    log = structlog.get_logger()
    log.info("window.closed", energy_j=12.5, duration_s=3.0)
    log.debug("too.chatty")
    logging.getLogger("thirdparty").warning("from the standard library")
    logs.remove_run_log(handler)
    lines = [json.loads(line) for line in (tmp_path / "llem.log").read_text().splitlines()]
    assert [r["event"] for r in lines] == ["window.closed", "from the standard library"]
    first = lines[0]
    assert first["level"] == "info" and first["energy_j"] == 12.5 and "timestamp" in first


def test_llems_own_events_stay_off_the_console_without_debug(capsys):
    logs.configure()
    log = structlog.get_logger()
    log.info("quiet.by.default")
    log.warning("thermal.drift", delta_c=12)
    logging.getLogger("thirdparty").warning("disk almost full")
    err = capsys.readouterr().err
    assert "quiet.by.default" not in err and "thermal.drift" not in err and "=" not in err
    assert err == "WARNING: thirdparty: disk almost full\n"


def test_debug_shows_warnings_as_key_values_when_not_a_tty(capsys):
    logs.configure(debug=True)
    structlog.get_logger().warning("thermal.drift", delta_c=12)
    err = capsys.readouterr().err
    assert "event='thermal.drift'" in err and "delta_c=12" in err and "level='warning'" in err


def test_debug_shows_debug_events(capsys, tmp_path):
    logs.configure(debug=True)
    handler = logs.add_run_log(tmp_path)
    structlog.get_logger().debug("details", n=1)
    logs.remove_run_log(handler)
    assert "details" in capsys.readouterr().err
    assert "details" in (tmp_path / "llem.log").read_text()


def test_add_run_log_works_without_configure(tmp_path):
    handler = logs.add_run_log(tmp_path)
    structlog.get_logger().info("library.use")
    logs.remove_run_log(handler)
    assert json.loads((tmp_path / "llem.log").read_text())["event"] == "library.use"
