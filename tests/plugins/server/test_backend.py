"""The server backend against the fake OpenAI server on loopback: offline generate, the
records it builds, and every fault ending in a clear ExperimentFailed with the server gone."""

from __future__ import annotations

import time

import pytest
from llem.plugin import ExperimentFailed
from llem_server.backend import ServerBackend
from llem_server_testutil import alive, experiment, fake_section, requests_for


def test_generate_streams_every_request_and_records_each_token(launched):
    section = fake_section("--step-ms", "5")
    cfg = experiment(section, num_requests=5, input_len=12, max_new_tokens=7)
    backend = launched(section, cfg)
    requests = requests_for(backend, cfg)
    start = time.perf_counter_ns()
    records = backend.generate(requests, cfg.generation)
    end = time.perf_counter_ns()
    assert sorted(r.request_id for r in records) == [0, 1, 2, 3, 4]
    for rec in records:
        assert rec.input_tokens == 12 and rec.output_tokens == 7
        assert len(rec.token_times_ns) == 7
        assert start <= rec.t_submit_ns < rec.t_first_token_ns <= rec.t_end_ns <= end
        assert list(rec.token_times_ns) == sorted(rec.token_times_ns)
    assert backend.details["client_cpu_s"] > 0
    assert backend.details["served_model"] == "fake-model"


def test_requests_beyond_the_batch_wait_for_a_slot(launched):
    """max-batch 2, 6 requests of 10 tokens at 20 ms a step: the last ones' first token
    comes only after earlier ones finished (the fake batches like an engine)."""
    section = fake_section("--step-ms", "20", "--max-batch", "2")
    cfg = experiment(section, num_requests=6, max_new_tokens=10)
    backend = launched(section, cfg)
    records = backend.generate(requests_for(backend, cfg), cfg.generation)
    ttft = sorted((r.t_first_token_ns - r.t_submit_ns) / 1e9 for r in records)
    assert ttft[0] < 0.15
    assert ttft[-1] > 0.3  # two batches of ~0.2 s ahead of it


def test_http_500_fails_the_experiment_with_the_servers_message(launched):
    section = fake_section("--fail-first", "2")
    cfg = experiment(section, num_requests=4)
    backend = launched(section, cfg)
    with pytest.raises(ExperimentFailed) as info:
        backend.generate(requests_for(backend, cfg), cfg.generation)
    message = str(info.value)
    assert "2 of 4 requests failed" in message
    assert "HTTP 500" in message and "Internal server error" in message


def test_a_dropped_stream_fails_the_experiment(launched):
    section = fake_section("--drop-after", "3")
    cfg = experiment(section, num_requests=2, max_new_tokens=8)
    backend = launched(section, cfg)
    with pytest.raises(ExperimentFailed, match=r"cut after 3 tokens, before \[DONE\]"):
        backend.generate(requests_for(backend, cfg), cfg.generation)


def test_a_slow_start_past_the_ready_timeout_fails_and_stops_the_server():
    section = fake_section("--startup-delay-s", "30", ready_timeout_s=1.5)
    backend = ServerBackend(section)
    with pytest.raises(ExperimentFailed) as info:
        backend.load(experiment(section), ())
    assert "not ready within server.ready_timeout_s=1.5 s" in str(info.value)
    assert "raise server.ready_timeout_s" in str(info.value)
    assert backend.server is None  # load() closed it
    assert "fake: CUDA_VISIBLE_DEVICES" in str(info.value)  # the log's last lines


def test_a_server_that_exits_at_start_fails_with_its_last_log_lines():
    section = fake_section("--exit-at-start")
    backend = ServerBackend(section)
    with pytest.raises(ExperimentFailed) as info:
        backend.load(experiment(section), ())
    message = str(info.value)
    assert "exited with code 3 while starting" in message
    assert "could not load the model" in message


def test_a_crash_mid_run_fails_the_experiment_with_the_log_tail(launched):
    section = fake_section("--crash-after-tokens", "10", "--step-ms", "10")
    cfg = experiment(section, num_requests=4, max_new_tokens=20)
    backend = launched(section, cfg)
    with pytest.raises(ExperimentFailed) as info:
        backend.generate(requests_for(backend, cfg), cfg.generation)
    message = str(info.value)
    assert "exited with code 17 during the run" in message
    assert "crashing after 10 tokens" in message


def test_close_stops_the_server_and_the_processes_it_started(launched):
    section = fake_section("--spawn-child")
    backend = launched(section)
    pids = backend.server.pids()
    assert len(pids) >= 3  # guard, server, the server's child
    backend.close()
    assert not [p for p in pids if alive(p)]
    backend.close()  # a second close is harmless


def test_the_server_sees_exactly_the_experiments_gpus_by_uuid(monkeypatch, launched):
    from llem.plugin import Device

    section = fake_section()
    gpus = [
        Device(1, 3, "GPU-bbbb", "0:3:0.0", "fake", 1),
        Device(0, 1, "GPU-aaaa", "0:1:0.0", "fake", 1),
    ]
    backend = ServerBackend(section)
    try:
        backend.load(experiment(section), gpus)
        assert backend.details["cuda_visible_devices"] == "GPU-bbbb,GPU-aaaa"
        log = backend.server.log_path.read_text()
        assert "CUDA_VISIBLE_DEVICES='GPU-bbbb,GPU-aaaa'" in log
    finally:
        backend.close()


def test_the_server_log_goes_to_the_experiments_directory(monkeypatch, tmp_path, launched):
    monkeypatch.setenv("LLEM_EXPERIMENT_DIR", str(tmp_path / "experiments" / "e1"))
    backend = launched(fake_section())
    assert backend.server.log_path == tmp_path / "experiments" / "e1" / "server.log"
    assert "fake: listening on" in backend.server.log_path.read_text()


def test_ctrl_c_while_the_server_starts_stops_it():
    """SIGINT in the worker (KeyboardInterrupt) during load: load() closes the server."""
    import os
    import signal
    import threading

    section = fake_section("--startup-delay-s", "30", "--spawn-child", ready_timeout_s=60)
    backend = ServerBackend(section)
    seen: list[set[int]] = []

    def interrupt() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (  # guard, server and its child all up
            backend.server is None
            or "child pid" not in backend.server.tail()
            or len(backend.server.pids()) < 3
        ):
            time.sleep(0.05)
        seen.append(backend.server.pids() if backend.server is not None else set())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        backend.load(experiment(section), ())
    assert backend.server is None
    (pids,) = seen
    assert len(pids) >= 3 and not [p for p in pids if alive(p)]


def test_preflight_refuses_token_id_prompts_for_a_text_only_api():
    section = fake_section(api="chat")
    messages = [p.message for p in ServerBackend(section).preflight(experiment(section))]
    assert any("takes text prompts only" in m for m in messages), messages
    assert ServerBackend(fake_section()).preflight(experiment(fake_section())) == []


def test_preflight_names_an_api_key_variable_that_is_not_set(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    section = fake_section(api_key_env="NO_SUCH_KEY_VAR")
    (problem,) = ServerBackend(section).preflight(experiment(section))
    assert "NO_SUCH_KEY_VAR" in problem.message and "export NO_SUCH_KEY_VAR" in problem.fix
