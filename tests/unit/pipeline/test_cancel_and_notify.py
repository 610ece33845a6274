"""Cancelling jobs and announcing every end, against moto (EventBridge rule -> SQS, SNS -> SQS)."""

from __future__ import annotations

import json

import boto3
import pytest
from geocode_dataflow.pipeline import jobs, notify
from geocode_dataflow.pipeline.cancel import JobNotFoundError, cancel_job
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.jobs import InputObject
from geocode_dataflow.pipeline.runtime import Runtime
from geocode_dataflow.pipeline.submit import submit_object
from local_pipeline import template as tpl
from moto import mock_aws

BUCKET = "geocode-dataflow-123456789012-us-east-1"
REGION = "us-east-1"


class Listener:
    """An EventBridge rule for the pipeline's events and an SNS subscription, both into SQS."""

    def __init__(self, topic_arn: str) -> None:
        sqs = boto3.client("sqs", region_name=REGION)
        self._sqs = sqs
        self.events_queue = sqs.create_queue(QueueName="job-events")["QueueUrl"]
        self.mail_queue = sqs.create_queue(QueueName="job-mail")["QueueUrl"]
        arn = lambda url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[  # noqa: E731
            "Attributes"
        ]["QueueArn"]
        events = boto3.client("events", region_name=REGION)
        events.put_rule(
            Name="job-ends",
            EventPattern=json.dumps(
                {"source": [notify.SOURCE], "detail-type": [notify.DETAIL_TYPE]}
            ),
        )
        events.put_targets(Rule="job-ends", Targets=[{"Id": "q", "Arn": arn(self.events_queue)}])
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=arn(self.mail_queue)
        )

    def _drain(self, url: str) -> list[dict]:
        bodies = []
        while True:
            got = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def events(self) -> list[dict]:
        return self._drain(self.events_queue)

    def mails(self) -> list[dict]:
        return self._drain(self.mail_queue)


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        schema = tpl.table_schema(tpl.load_template())
        boto3.client("dynamodb", region_name=REGION).create_table(TableName="jobs", **schema)
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="job-mail")["TopicArn"]
        config = PipelineConfig(
            jobs_table_name="jobs",
            bucket_name=BUCKET,
            key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:none",
            dataflow_endpoint="http://127.0.0.1:9/REST/v1/Dataflows",
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:local-jobs",
            notification_topic_arn=topic,
        )
        runtime = Runtime(config=config)
        yield runtime, Listener(topic)


def _queued(runtime: Runtime, job_id: str) -> None:
    source = InputObject(bucket=BUCKET, key=f"inbox/{job_id}.csv", version_id="v1")
    runtime.store.claim(job_id, source)
    runtime.store.update(job_id, input_format="csv", status=jobs.QUEUED, queued_reason="busy")


def test_a_rejected_file_is_announced_on_eventbridge_and_by_email(aws):
    runtime, listener = aws
    key = "inbox/lists/bad file.csv"
    version = boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"no feed\n")["VersionId"]

    outcome = submit_object(BUCKET, key, version, runtime.services())

    assert outcome.status == jobs.REJECTED
    [event] = listener.events()
    assert event["source"] == "geocode-dataflow"
    assert event["detail-type"] == "Geocode Job Ended"
    detail = event["detail"]
    assert detail["job_id"] == outcome.job_id
    assert detail["status"] == "REJECTED"
    assert detail["input"] == f"s3://{BUCKET}/{key}"
    assert detail["rejection_report"].endswith("/rejection.json")
    assert detail["error"]["type"] == "InvalidFeedError"
    [mail] = listener.mails()
    assert mail["Subject"] == "Geocode job rejected: bad file.csv"
    assert f"Job {outcome.job_id} ended REJECTED." in mail["Message"]
    assert "Rejection report: s3://" in mail["Message"]


def test_cancelling_a_queued_job_ends_it_frees_its_slot_and_announces_it(aws):
    runtime, listener = aws
    _queued(runtime, "waiting-1")
    assert runtime.slots.try_acquire("waiting-1").acquired  # as if a start had begun

    outcome = cancel_job("waiting-1", runtime.services(), reason="wrong file")

    assert outcome.status == jobs.CANCELLED
    record = runtime.store.get("waiting-1")
    assert record.status == jobs.CANCELLED
    assert record.error == {"type": "JobCancelledError", "message": "wrong file"}
    assert "waiting-1" not in runtime.slots.holders()
    job_json = runtime.objects.get_json(runtime.objects.key_of(record.outputs["job"]))
    assert job_json["status"] == "CANCELLED"
    [event] = listener.events()
    assert event["detail"]["status"] == "CANCELLED"
    assert event["detail"]["error"]["message"] == "wrong file"


def test_a_cancelled_job_is_never_started_by_the_dispatcher(aws):
    runtime, listener = aws

    def no_provider():
        raise AssertionError("a cancelled job must not reach the provider")

    runtime.provider = no_provider  # type: ignore[method-assign]
    _queued(runtime, "waiting-2")
    cancel_job("waiting-2", runtime.services())
    from geocode_dataflow.pipeline.dispatch import dispatch_queued

    assert dispatch_queued(runtime.services()) == []
    assert runtime.store.get("waiting-2").status == jobs.CANCELLED


def test_cancelling_twice_or_after_the_end_changes_nothing(aws):
    runtime, listener = aws
    _queued(runtime, "waiting-3")
    cancel_job("waiting-3", runtime.services())
    listener.events()

    again = cancel_job("waiting-3", runtime.services())

    assert again.status == jobs.CANCELLED and "nothing to cancel" in again.detail
    assert listener.events() == []
    with pytest.raises(JobNotFoundError):
        cancel_job("no-such-job", runtime.services())


def test_a_start_that_loses_to_a_cancel_undoes_itself(aws):
    runtime, listener = aws
    created = []

    class Provider:
        def find_job(self, job_id):
            return None

        def create_job(self, record, body=None):
            # The user cancels while the provider job is being created.
            cancel_job(record.job_id, runtime.services())
            created.append(record.job_id)
            return "provider-job-9"

    runtime.provider = Provider  # type: ignore[method-assign]
    _queued(runtime, "racing")
    from geocode_dataflow.pipeline.dispatch import dispatch_queued

    [outcome] = dispatch_queued(runtime.services())

    assert created == ["racing"]
    assert outcome.status == jobs.CANCELLED
    assert runtime.store.get("racing").status == jobs.CANCELLED
    assert "racing" not in runtime.slots.holders()
    assert runtime.store.get("racing").provider_job_id is None


def test_a_notification_that_cannot_be_sent_never_fails_the_job(aws):
    runtime, listener = aws

    class BrokenEvents:
        def put_events(self, **kwargs):
            raise RuntimeError("EventBridge is down")

    runtime.notifier = notify.Notifier(events=BrokenEvents())
    _queued(runtime, "waiting-4")

    assert cancel_job("waiting-4", runtime.services()).status == jobs.CANCELLED


def test_the_email_subject_is_one_ascii_line_within_snss_limit():
    record = jobs.JobRecord(
        job_id="j",
        status=jobs.COMPLETED,
        input=InputObject(bucket=BUCKET, key="inbox/" + "Zürich\n" * 40 + ".csv"),
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:00:00.000Z",
        summary={"matched": 3, "no_match": 1, "failed": 0},
    )
    subject, body = notify.email_text(record)
    assert len(subject) <= 100 and subject.isascii() and "\n" not in subject
    assert "matched: 3" in body and "no match: 1" in body


def test_cancelling_a_job_of_parts_cancels_every_part_and_announces_only_the_job(aws):
    runtime, listener = aws
    runtime.store.claim("big", InputObject(bucket=BUCKET, key="inbox/big.csv", version_id="v"))
    for child in ("big-p001", "big-p002"):
        _queued(runtime, child)
        runtime.store.update(child, parent_job_id="big")
    runtime.store.update(
        "big", input_format="csv", status=jobs.PENDING, parts=["big-p001", "big-p002"]
    )

    outcome = cancel_job("big", runtime.services())

    assert outcome.status == jobs.CANCELLED
    assert runtime.store.get("big").status == jobs.CANCELLED  # not completed by its last part
    assert {runtime.store.get(c).status for c in ("big-p001", "big-p002")} == {jobs.CANCELLED}
    assert [e["detail"]["job_id"] for e in listener.events()] == ["big"]
