"""Cancelling running jobs in the local pipeline: executions stop, nothing half-written is left,
the slot frees and the end is announced (an EventBridge rule with an SQS target, in moto)."""

from __future__ import annotations

import json
import time

import pytest
from engine_files import many_rows, text_file
from geocode_dataflow.pipeline import jobs, notify
from geocode_dataflow.pipeline.cancel import cancel_job
from geocode_dataflow.pipeline.runtime import Runtime
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

GOOD = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Denver CO\n2,Boise ID\n"


def listen(pipeline: LocalPipeline):
    """Every 'Geocode Job Ended' event, as an SQS queue receives it from an EventBridge rule."""
    sqs, events = pipeline.client("sqs"), pipeline.client("events")
    url = sqs.create_queue(QueueName="job-ends")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": [notify.SOURCE], "detail-type": [notify.DETAIL_TYPE]}
    events.put_rule(Name="job-ends", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="job-ends", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"])["detail"] for m in got.get("Messages", [])]

    return received


def wait_for(pipeline: LocalPipeline, job_id: str, condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline.run_schedules()
        record = pipeline.record(job_id)
        if record is not None and condition(record):
            return record
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id}: {pipeline.record(job_id)}")


def test_a_running_bing_job_is_cancelled_with_no_results_and_an_event():
    options = LocalPipelineOptions(
        emulator_processing_seconds=3600,  # the provider job would run for an hour
        initial_wait_seconds=1,
        min_wait_seconds=1,
        max_wait_seconds=1,
        parameter_overrides={"NotificationEmail": "ops@example.com"},
    )
    with LocalPipeline(options) as pipeline:
        received = listen(pipeline)
        job_id = pipeline.drop(GOOD, "long.csv")
        wait_for(pipeline, job_id, lambda r: r.status == jobs.PENDING and r.status_checks >= 1)

        outcome = cancel_job(job_id, Runtime(config=pipeline.pipeline_config()).services())

        assert outcome.status == jobs.CANCELLED
        assert "abandoned" in outcome.detail
        record = pipeline.wait(job_id)
        assert record.status == jobs.CANCELLED
        assert pipeline.execution(job_id)["status"] == "ABORTED"
        results = [k for k in pipeline.objects("results/") if job_id in k]
        assert [k.rsplit("/", 1)[-1] for k in results] == ["job.json"]
        assert json.loads(pipeline.read(results[0]))["status"] == "CANCELLED"
        [detail] = received()
        assert detail["job_id"] == job_id and detail["status"] == "CANCELLED"
        # The email went to the topic too.
        topics = pipeline.client("sns").list_topics()["Topics"]
        assert topics


def test_a_running_engine_job_stops_sending_requests_when_cancelled():
    options = LocalPipelineOptions(
        provider="amazon-location",
        requests_per_second=20,
        initial_wait_seconds=1,
        min_wait_seconds=1,
        max_wait_seconds=1,
    )
    with LocalPipeline(options) as pipeline:
        received = listen(pipeline)
        job_id = pipeline.drop(text_file(",", many_rows(2000)), "many.csv")
        record = wait_for(
            pipeline, job_id, lambda r: r.status == jobs.PENDING and (r.processed_entities or 0) > 0
        )

        cancel_job(job_id, Runtime(config=pipeline.pipeline_config()).services())

        record = pipeline.wait(job_id)
        assert record.status == jobs.CANCELLED
        # moto reflects a stop once the Map's running iterations return (AWS: at once).
        sfn = pipeline.client("stepfunctions")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            engine = sfn.describe_execution(executionArn=record.provider_job_id)
            if engine["status"] != "RUNNING":
                break
            time.sleep(0.5)
        assert engine["status"] == "ABORTED"
        time.sleep(1)  # a chunk under way finishes its current piece, then sees the record
        sent = sum(pipeline.emulator.state.snapshot()["requests"].values())
        time.sleep(3)
        assert sum(pipeline.emulator.state.snapshot()["requests"].values()) == sent
        assert sent < 2000
        assert not [k for k in pipeline.objects("results/") if job_id in k and "succeeded" in k]
        assert [d["status"] for d in received()] == ["CANCELLED"]
