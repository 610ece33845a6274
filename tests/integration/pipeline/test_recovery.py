"""Recovery paths: what the scheduled dispatcher repairs after an invocation died."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.jobs import InputObject, JobStore
from geocode_dataflow.pipeline.slots import ProviderSlots
from local_pipeline.stack import REGION, LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

GOOD = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver CO\n2,Boise ID\n"
BAD = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver CO\n1,Boise ID\n"


@pytest.fixture(scope="module")
def pipeline():
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
    )
    with LocalPipeline(options) as local:
        yield local


def _table(pipeline):
    return boto3.resource("dynamodb", endpoint_url=pipeline.aws_endpoint, region_name=REGION).Table(
        pipeline.table_name
    )


def _stale_claim(pipeline, name: str, data: bytes, **values) -> str:
    """A claim left by a submit invocation that died (timeout, out of memory) 20 minutes ago."""
    key = f"inbox/{name}"
    s3 = pipeline.client("s3")
    # Put the object without its S3 event: the invocation that event ran is the one that died.
    s3.put_bucket_notification_configuration(Bucket=pipeline.bucket, NotificationConfiguration={})
    version = s3.put_object(Bucket=pipeline.bucket, Key=key, Body=data)["VersionId"]
    job_id = jobs.make_job_id(pipeline.bucket, key, version)
    store = JobStore(_table(pipeline))
    store.claim(job_id, InputObject(bucket=pipeline.bucket, key=key, version_id=version))
    if values:
        store.update(job_id, **values)
    _table(pipeline).update_item(
        Key={"job_id": job_id},
        UpdateExpression="SET updated_at = :old",
        ExpressionAttributeValues={":old": jobs.iso(jobs.utc_now() - timedelta(minutes=20))},
    )
    return job_id


def test_a_claim_that_died_during_validation_is_validated_again_not_sent(pipeline):
    before = len(pipeline.emulator.state.jobs)
    job_id = _stale_claim(pipeline, "died-validating.csv", BAD)

    pipeline.run_schedules(force=True)

    record = pipeline.wait(job_id)
    assert record.status == "REJECTED"
    assert len(pipeline.emulator.state.jobs) == before


def test_a_claim_that_died_after_validation_is_resumed_and_completes(pipeline):
    job_id = _stale_claim(
        pipeline, "died-after-validation.csv", GOOD, input_format="csv", total_entities=2
    )

    pipeline.run_schedules(force=True)

    record = pipeline.wait(job_id)
    assert record.status == "COMPLETED", record.error
    assert record.succeeded_entities == 2


def test_a_slot_whose_release_was_lost_is_freed(pipeline):
    table = _table(pipeline)
    slots = ProviderSlots(table, max_in_flight=10, max_per_day=50)
    JobStore(table).claim("ended-job", InputObject(bucket=pipeline.bucket, key="inbox/x.csv"))
    JobStore(table).update("ended-job", status=jobs.COMPLETED)
    assert slots.try_acquire("ended-job").acquired

    pipeline.run_schedules(force=True)

    assert "ended-job" not in slots.holders()


def test_a_claim_whose_validations_all_died_ends_rejected_with_a_report(pipeline):
    before = len(pipeline.emulator.state.jobs)
    job_id = _stale_claim(pipeline, "poison.csv", GOOD, validation_attempts=3)

    pipeline.run_schedules(force=True)

    record = pipeline.wait(job_id)
    assert record.status == "REJECTED"
    assert record.error["type"] == "ValidationAbandonedError"
    report = json.loads(pipeline.read(record.rejection_report))
    assert report["report"]["validation_attempts"] == 3
    assert "within the submit function's limits" in report["summary"]
    assert len(pipeline.emulator.state.jobs) == before
