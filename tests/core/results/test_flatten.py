from __future__ import annotations

from llem.results.flatten import flat_row

from tests.core.results.sample import sample_result


def test_flat_row_has_identity_params_and_key_metrics():
    row = flat_row(sample_result(), {"pytorch.batch_size": 8, "devices": [0, 1]})
    assert row["id"] == "abc123def456-c1" and row["cycle"] == 1 and row["status"] == "ok"
    assert row["config_hash"] == "abc123def456" and row["backend"] == "pytorch"
    assert row["pytorch.batch_size"] == 8 and row["devices"] == "[0, 1]"
    assert row["energy_per_output_token_j"] == 100 / 1024 and row["tokens_per_second"] == 102.4
    assert row["ttft_p90_s"] == 0.2 and row["itl_mean_s"] == 0.1 and row["latency_p99_s"] == 0.3
    assert row["meter"] == "nvml" and row["energy_method"] == "energy_counter"
    assert row["prefill_j"] == 20.0 and row["warnings"] == "short_window"
    assert row["error_kind"] is None
    assert all(not isinstance(v, (dict, list, tuple)) for v in row.values())


def test_failed_result_row_has_the_error_and_no_metrics():
    row = flat_row(sample_result(status="failed"), {})
    assert row["status"] == "failed" and row["error_kind"] == "crash"
    assert row["tokens_per_second"] is None and row["energy_per_output_token_j"] is None


def test_info_grade_warnings_go_to_notes_not_warnings():
    import attrs
    from llem.results.schema import MeasurementWarning

    capped = MeasurementWarning("throttling", "m", "f", severity="info")
    result = sample_result()
    row = flat_row(attrs.evolve(result, warnings=(*result.warnings, capped)), {})
    assert row["warnings"] == "short_window" and row["notes"] == "throttling"
