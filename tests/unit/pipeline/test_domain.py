"""Pure parts of the pipeline domain: ids, configuration, status vocabulary, waits, reasons."""

from __future__ import annotations

import json

import pytest
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import ConfigurationError, PipelineConfig
from geocode_dataflow.pipeline.failure import describe_error
from geocode_dataflow.pipeline.status import (
    Progress,
    UnknownJobStatusError,
    next_wait,
    normalise_status,
)
from geocode_dataflow.pipeline.submit import input_name

ENV = {
    "JOBS_TABLE_NAME": "jobs",
    "BUCKET_NAME": "bucket",
    "BING_MAPS_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
    "DATAFLOW_ENDPOINT": "https://spatial.virtualearth.net/REST/v1/Dataflows",
}


def test_job_id_is_stable_per_object_version_and_a_valid_execution_name():
    first = jobs.make_job_id("b", "inbox/My File (v2).csv", "v1")
    assert first == jobs.make_job_id("b", "inbox/My File (v2).csv", "v1")
    assert first != jobs.make_job_id("b", "inbox/My File (v2).csv", "v2")
    assert first.startswith("My-File-v2-")
    assert len(first) <= 80 and all(c.isalnum() or c in "-_" for c in first)


def test_job_id_of_a_name_without_usable_characters_still_reads():
    assert jobs.make_job_id("b", "inbox/¿¿¿.csv", "e").startswith("input-")


def test_config_fails_fast_naming_the_missing_variable():
    env = dict(ENV)
    del env["BUCKET_NAME"]
    with pytest.raises(ConfigurationError, match="BUCKET_NAME"):
        PipelineConfig.from_env(env)


def test_config_rejects_a_non_numeric_limit():
    with pytest.raises(ConfigurationError, match="MAX_ENTITIES"):
        PipelineConfig.from_env({**ENV, "MAX_ENTITIES": "lots"})


def test_config_reads_defaults_and_overrides():
    config = PipelineConfig.from_env({**ENV, "MAX_ENTITIES": "50", "MAX_WAIT_SECONDS": "60"})
    assert config.max_entities == 50 and config.max_wait_seconds == 60
    assert config.input_prefix == "inbox/" and config.results_prefix == "results/"


@pytest.mark.parametrize(
    ("provider", "expected"),
    [("Pending", "PENDING"), ("completed", "COMPLETED"), (" Aborted ", "ABORTED")],
)
def test_provider_statuses_normalise_to_the_small_vocabulary(provider, expected):
    assert normalise_status(provider) == expected


@pytest.mark.parametrize("provider", ["Running", "", None, "Succeeded"])
def test_unknown_provider_status_raises_a_named_error(provider):
    with pytest.raises(UnknownJobStatusError):
        normalise_status(provider)


def test_wait_backs_off_from_the_minimum_to_the_cap():
    config = PipelineConfig.from_env({**ENV, "MIN_WAIT_SECONDS": "5", "MAX_WAIT_SECONDS": "60"})
    waits = [next_wait(attempt, config, None, None) for attempt in range(0, 12)]
    assert waits[0] == 5
    assert waits == sorted(waits)
    assert waits[-1] == 60


def test_wait_is_shortened_when_progress_says_the_job_is_nearly_done():
    config = PipelineConfig.from_env({**ENV, "MIN_WAIT_SECONDS": "5", "MAX_WAIT_SECONDS": "300"})
    previous = Progress(processed=900, total=1000, at=100.0)
    current = Progress(processed=990, total=1000, at=110.0)  # 9 entities/s, 10 left
    assert next_wait(10, config, previous, current) == 5
    slow = Progress(processed=901, total=1000, at=110.0)
    assert next_wait(20, config, previous, slow) == 300


def test_describe_error_reads_a_lambda_cause_document():
    cause = json.dumps(
        {"errorMessage": "401: key refused", "errorType": "AuthenticationError", "stackTrace": []}
    )
    assert describe_error({"Error": "AuthenticationError", "Cause": cause}) == {
        "type": "AuthenticationError",
        "message": "401: key refused",
    }


def test_describe_error_keeps_plain_causes_and_handles_missing_errors():
    assert describe_error({"Error": "JobAbortedError", "Cause": "bad data"}) == {
        "type": "JobAbortedError",
        "message": "bad data",
    }
    assert describe_error(None)["type"] == "UnknownError"


def test_input_name_is_the_key_below_the_input_prefix():
    assert input_name("inbox/a/b.csv", "inbox/") == "a/b.csv"
    assert input_name("other/b.csv", "inbox/") == "other/b.csv"
