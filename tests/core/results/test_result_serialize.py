from __future__ import annotations

import json

import pytest
from llem.errors import LlemError
from llem.results.schema import SCHEMA_VERSION
from llem.results.serialize import (
    result_from_dict,
    result_to_dict,
    study_from_dict,
    study_to_dict,
)

from tests.core.results.sample import sample_result, sample_study


def test_experiment_result_round_trips_through_json():
    result = sample_result()
    back = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
    assert back == result


def test_study_result_round_trips_through_json():
    study = sample_study()
    assert study_from_dict(json.loads(json.dumps(study_to_dict(study)))) == study


def test_other_schema_versions_are_refused_with_a_message():
    data = result_to_dict(sample_result())
    data["schema_version"] = 99
    with pytest.raises(LlemError, match=f"schema_version 99.*reads {SCHEMA_VERSION}"):
        result_from_dict(data, "x/result.json")


def test_invalid_data_names_the_field():
    data = result_to_dict(sample_result())
    data["cycle"] = "one"
    with pytest.raises(LlemError, match="x.json is not a valid ExperimentResult.*cycle"):
        result_from_dict(data, "x.json")
