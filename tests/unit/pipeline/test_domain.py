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


def test_wait_grows_with_the_jobs_age_from_the_minimum_to_the_cap():
    config = PipelineConfig.from_env({**ENV, "MIN_WAIT_SECONDS": "5", "MAX_WAIT_SECONDS": "300"})
    assert next_wait(0, config, None, None, elapsed=12) == 5
    assert next_wait(0, config, None, None, elapsed=600) == 57
    assert next_wait(0, config, None, None, elapsed=9 * 3600) == 300


def _check_times(config: PipelineConfig, until: float) -> list[float]:
    """When the checks happen with no progress counts: the state machine waits INITIAL, then
    each check says how long to wait (in whole seconds)."""
    times = [config.initial_wait_seconds]
    while times[-1] < until:
        times.append(times[-1] + next_wait(len(times), config, None, None, elapsed=times[-1]))
    return times


def test_a_finished_job_is_noticed_within_ten_percent_of_its_age_with_fewer_checks():
    config = PipelineConfig.from_env(ENV)  # the deployed defaults: 5 s to 300 s
    times = _check_times(config, 12 * 3600)
    # The worst case: the job ends just after a check and is seen at the next one.
    for seen_before, seen_at in zip(times, times[1:], strict=False):
        ended = seen_before + 0.001
        if 60 <= ended <= 12 * 3600:
            assert seen_at - ended <= max(10.0, 0.10 * ended), (ended, seen_at)
    assert len(times) * 5 <= 12 * 3600 / 30, len(times)  # >= 5x fewer than every 30 s
    assert len(times) < config.max_status_checks


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
