"""The Lambda handlers on the payloads of events/, against moto (no provider needed here)."""

from __future__ import annotations

import json

import boto3
import pytest
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject
from geocode_dataflow.pipeline.runtime import Runtime
from handler_support import Context, handler
from moto import mock_aws

BUCKET = "geocode-dataflow-123456789012-us-east-1"


@pytest.fixture
def runtime():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        boto3.client("dynamodb").create_table(
            TableName="jobs",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        config = PipelineConfig(
            jobs_table_name="jobs",
            bucket_name=BUCKET,
            key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:none",
            dataflow_endpoint="http://127.0.0.1:9/REST/v1/Dataflows",
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:none",
        )
        yield Runtime(config=config)


def _pending_record(runtime: Runtime, job_id: str) -> None:
    source = InputObject(
        bucket=BUCKET, key="inbox/customers/store list 2026.csv", version_id="v", etag="e", size=1
    )
    runtime.store.claim(job_id, source)
    runtime.store.update(
        job_id, status=jobs.PENDING, provider_job_id="5bf10c37df944083b1879fbb0556e67e"
    )


def test_submit_rejects_an_invalid_file_without_calling_the_provider(runtime, load_event):
    event = load_event("submit_job_s3_put")
    key = "inbox/customers/store list 2026.csv"  # the event's key, URL-decoded
    put = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"not a geocode feed at all\n")
    event["Records"][0]["s3"]["object"]["versionId"] = put["VersionId"]

    def no_provider():
        raise AssertionError("the provider must not be called for a rejected file")

    runtime.client = no_provider  # type: ignore[method-assign]
    result = handler("submit_job")(event, Context(), runtime=runtime)

    outcome = result["jobs"][0]
    assert outcome["status"] == "REJECTED"
    record = runtime.store.get(outcome["job_id"])
    assert (
        record.status == "REJECTED"
        and record.input.key == key
        and record.input.version_id == put["VersionId"]
    )
    assert record.rejection_report.endswith(
        f"/rejected/customers/store list 2026.csv/{record.job_id}/rejection.json"
    )
    report = json.loads(
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key=record.rejection_report.split(f"{BUCKET}/", 1)[1])["Body"]
        .read()
    )
    assert report["status"] == "REJECTED" and report["report"]["errors"]


def test_submit_ignores_objects_outside_the_input_prefix(runtime, load_event):
    event = load_event("submit_job_s3_put")
    event["Records"][0]["s3"]["object"]["key"] = "results/x/succeeded.csv"
    assert handler("submit_job")(event, Context(), runtime=runtime) == {"jobs": []}


def test_record_failure_from_the_state_machine_reads_the_lambda_cause(runtime, load_event):
    event = load_event("record_failure_lambda_error")
    _pending_record(runtime, event["state"]["job_id"])

    result = handler("record_failure")(event, Context(), runtime=runtime)

    assert result["status"] == "FAILED"
    record = runtime.store.get(event["state"]["job_id"])
    assert record.status == "FAILED"
    assert record.error == {"type": "AuthenticationError", "message": result["error"]["message"]}
    assert "InvalidCredentials" in record.error["message"]
    assert record.outputs["job"].endswith(f"/{record.job_id}/job.json")


def test_record_failure_from_eventbridge_for_a_timed_out_execution(runtime, load_event):
    event = load_event("record_failure_execution_timed_out")
    job_id = event["detail"]["name"]
    _pending_record(runtime, job_id)

    handler("record_failure")(event, Context(), runtime=runtime)

    record = runtime.store.get(job_id)
    assert record.status == "FAILED" and record.error["type"] == "States.Timeout"


def test_record_failure_leaves_a_final_record_alone(runtime, load_event):
    event = load_event("record_failure_aborted")
    job_id = event["state"]["job_id"]
    _pending_record(runtime, job_id)
    runtime.store.update(job_id, status=jobs.COMPLETED)

    result = handler("record_failure")(event, Context(), runtime=runtime)

    assert result["status"] == "COMPLETED"
    assert runtime.store.get(job_id).status == "COMPLETED"


def test_job_store_claim_is_exclusive(runtime):
    source = InputObject(bucket=BUCKET, key="inbox/a.csv", version_id="1", etag="e", size=3)
    runtime.store.claim("job-1", source)
    with pytest.raises(jobs.JobAlreadyExistsError) as caught:
        runtime.store.claim("job-1", source)
    assert caught.value.record.status == jobs.RECEIVED
    assert caught.value.record.validation_attempts == 1
