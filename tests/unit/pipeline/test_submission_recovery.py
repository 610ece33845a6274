"""Submissions that cannot finish: poison files, inputs deleted before submit, very long names.

The real submit and dispatch handlers run against moto; a validator that "dies" raises a
BaseException (as a Lambda killed for memory or time, no code of ours sees it end).
"""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from geocode_dataflow.pipeline import jobs, submit
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.runtime import Runtime
from geocode_dataflow.pipeline.storage import MAX_KEY_BYTES, KeyTooLongError, job_folder
from handler_support import Context, handler
from local_pipeline import template as tpl
from moto import mock_aws

BUCKET = "geocode-dataflow-123456789012-us-east-1"
GOOD = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver CO\n"


class KilledError(BaseException):
    """What the runtime does to an invocation out of memory or time: nothing runs after it."""


@pytest.fixture
def runtime():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        schema = tpl.table_schema(tpl.load_template())
        boto3.client("dynamodb").create_table(TableName="jobs", **schema)
        config = PipelineConfig(
            jobs_table_name="jobs",
            bucket_name=BUCKET,
            key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:none",
            dataflow_endpoint="http://127.0.0.1:9/REST/v1/Dataflows",
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:none",
        )
        yield Runtime(config=config)


def _s3_event(key: str, version_id: str | None) -> dict:
    obj = {"key": key.replace(" ", "+"), "size": 1}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": BUCKET}, "object": obj},
            }
        ]
    }


def _drop(key: str, body: bytes) -> str:
    return boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]


def _age(runtime: Runtime, job_id: str, minutes: int = 20) -> None:
    """Make the claim look abandoned: its invocation died ``minutes`` ago."""
    runtime._table.update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET updated_at = :old",
        ExpressionAttributeValues={":old": jobs.iso(jobs.utc_now() - timedelta(minutes=minutes))},
    )


def _no_provider():
    raise AssertionError("nothing may be sent to the provider")


def test_a_file_that_kills_its_validator_ends_rejected_after_bounded_attempts(runtime, monkeypatch):
    key = "inbox/poison.csv"
    version = _drop(key, GOOD)
    calls = []

    def dies(*args, **kwargs):
        calls.append(1)
        raise KilledError

    monkeypatch.setattr(submit, "validate_feed", dies)
    runtime.provider = _no_provider  # type: ignore[method-assign]
    job_id = jobs.make_job_id(BUCKET, key, version)

    with pytest.raises(KilledError):
        handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)
    # The event's retries find a fresh claim: someone is on it.
    retried = handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)
    assert retried["jobs"][0]["detail"] == "being submitted by another invocation"

    for _ in range(10):  # the dispatcher, every minute; a claim is stale after 16 minutes
        record = runtime.store.get(job_id)
        if record.status in jobs.FINAL_STATUSES:
            break
        _age(runtime, job_id)
        try:
            handler("dispatch_queued")({}, Context(), runtime=runtime)
        except KilledError:
            pass

    record = runtime.store.get(job_id)
    assert record.status == jobs.REJECTED
    assert len(calls) == submit.MAX_VALIDATION_ATTEMPTS
    assert record.validation_attempts == submit.MAX_VALIDATION_ATTEMPTS
    assert record.error["type"] == "ValidationAbandonedError"
    assert "could not be validated within the submit function's limits" in record.error["message"]
    report_key = record.rejection_report.split(f"s3://{BUCKET}/", 1)[1]
    report = runtime.objects.get_json(report_key)
    assert report["status"] == jobs.REJECTED
    assert report["report"]["validation_attempts"] == submit.MAX_VALIDATION_ATTEMPTS
    assert "out of memory or time" in report["summary"]


def test_a_validator_that_raises_is_retried_by_the_event_and_then_rejected(runtime, monkeypatch):
    key = "inbox/raises.csv"
    version = _drop(key, GOOD)

    def raises(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(submit, "validate_feed", raises)
    runtime.provider = _no_provider  # type: ignore[method-assign]
    event = _s3_event(key, version)
    # Lambda's asynchronous invocation: the first try and two retries.
    for _ in range(submit.MAX_VALIDATION_ATTEMPTS - 1):
        with pytest.raises(RecursionError):
            handler("submit_job")(event, Context(), runtime=runtime)
    result = handler("submit_job")(event, Context(), runtime=runtime)

    assert result["jobs"][0]["status"] == jobs.REJECTED
    record = runtime.store.get(result["jobs"][0]["job_id"])
    assert record.validation_attempts == submit.MAX_VALIDATION_ATTEMPTS
    assert "RecursionError" in record.error["message"]


def test_a_resumed_claim_is_validated_again_once_and_completes_its_start(runtime, monkeypatch):
    key = "inbox/died-once.csv"
    version = _drop(key, GOOD)
    real = submit.validate_feed
    deaths = iter([True])

    def dies_once(*args, **kwargs):
        if next(deaths, False):
            raise KilledError
        return real(*args, **kwargs)

    monkeypatch.setattr(submit, "validate_feed", dies_once)
    started = []

    class Provider:
        def find_job(self, job_id):
            return None

        def create_job(self, record, body=None):
            started.append(record.job_id)
            return "provider-job-1"

    runtime.provider = Provider  # type: ignore[method-assign]
    monkeypatch.setattr(submit, "_start_execution", lambda services, job_id, state: None)
    job_id = jobs.make_job_id(BUCKET, key, version)
    with pytest.raises(KilledError):
        handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)
    _age(runtime, job_id)
    handler("dispatch_queued")({}, Context(), runtime=runtime)

    record = runtime.store.get(job_id)
    assert record.validation_attempts == 2
    assert record.status == jobs.PENDING
    assert started == [job_id]


def test_two_resumers_of_one_stale_claim_validate_it_once(runtime):
    key = "inbox/contended.csv"
    version = _drop(key, GOOD)
    job_id = jobs.make_job_id(BUCKET, key, version)
    runtime.store.claim(job_id, jobs.InputObject(bucket=BUCKET, key=key, version_id=version))
    _age(runtime, job_id)
    seen = runtime.store.get(job_id)

    assert runtime.store.begin_validation(seen) == 2
    assert runtime.store.begin_validation(seen) is None  # the second saw an older record


def test_an_object_version_deleted_before_submit_is_recorded_and_skipped(runtime):
    key = "inbox/gone.csv"
    version = _drop(key, GOOD)
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    runtime.provider = _no_provider  # type: ignore[method-assign]

    result = handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)

    outcome = result["jobs"][0]
    assert outcome["status"] == jobs.REJECTED
    record = runtime.store.get(outcome["job_id"])
    assert record.error["type"] == "InputMissingError"
    assert version in record.error["message"]
    assert record.rejection_report
    # A second delivery of the same event changes nothing.
    again = handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)
    assert again["jobs"][0] == {**outcome, "detail": "duplicate delivery"}


def test_job_folders_of_the_longest_names_keep_every_key_within_s3s_limit():
    job_id = jobs.make_job_id(BUCKET, "x", "v")
    for name in ["a" * 1016, "é" * 508, "東" * 338 + "ab", "short.csv"]:
        folder = job_folder("results/", name, job_id)
        for leaf in ("succeeded.xml", "failed.csv", "job.json", "results.geojson"):
            assert len((folder + leaf).encode()) <= MAX_KEY_BYTES
        assert folder.endswith(f"/{job_id}/")
        assert folder.startswith("results/" + name[:100])
    assert job_folder("results/", "short.csv", job_id) == f"results/short.csv/{job_id}/"


def test_object_store_refuses_keys_over_s3s_limit_as_s3_does(runtime):
    with pytest.raises(KeyTooLongError, match="1025 bytes"):
        runtime.objects.put_json("k" * 1025, {})


def test_a_file_with_a_1000_byte_name_is_rejected_with_a_report_that_fits(runtime):
    key = "inbox/" + "n" * 1000 + ".csv"
    version = _drop(key, b"not a feed\n")
    runtime.provider = _no_provider  # type: ignore[method-assign]

    result = handler("submit_job")(_s3_event(key, version), Context(), runtime=runtime)

    record = runtime.store.get(result["jobs"][0]["job_id"])
    assert record.status == jobs.REJECTED
    report_key = record.rejection_report.split(f"s3://{BUCKET}/", 1)[1]
    assert len(report_key.encode()) <= MAX_KEY_BYTES
    assert runtime.objects.get_json(report_key)["job_id"] == record.job_id
