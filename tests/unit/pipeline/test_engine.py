"""The job engine against moto: split, geocode chunks (resumable, paced), assemble in order."""

from __future__ import annotations

import io
import threading

import boto3
import pytest
from geocode_dataflow.errors import ServiceUnavailableError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.chunks import ChunkContext, fail_chunk, geocode_chunk
from geocode_dataflow.pipeline.config import PipelineConfig
from geocode_dataflow.pipeline.engine import EngineJobs, EngineProgress, WorkLayout, render
from geocode_dataflow.pipeline.jobs import InputObject, JobStore
from geocode_dataflow.pipeline.pacing import RateLimiter
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.schema import GeocodeResponse, Point, open_feed
from moto import mock_aws

BUCKET = "geocode-dataflow-123456789012-us-east-1"
ENGINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:local-engine"
HEADER = "Id,GeocodeRequest/Query,ReverseGeocodeRequest/Location/Latitude,ReverseGeocodeRequest/Location/Longitude,GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude,StatusCode,FaultReason"


def csv_feed(rows: int) -> bytes:
    lines = ["Bing Spatial Data Services, 2.0", HEADER]
    for i in range(rows):
        lines.append(f"{i},place {i},," if i % 7 else f"{i},,47.6,-122.1")
    lines.append(f"{rows},,,")  # no query and no location: the service fails it
    return ("\n".join(lines) + "\n").encode()


class FakeGeocoder:
    """Answers with the entity's number as a point; optionally fails some calls first."""

    name = "Fake"
    batch_size = 1

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.calls: list[str] = []
        self.batches: list[list[str]] = []
        self.failures = dict(failures or {})
        self._lock = threading.Lock()

    def batch_key(self, entity):
        return entity.kind

    def geocode_batch(self, entities, *, text_format):
        with self._lock:
            self.batches.append([e.id for e in entities])
        return [self.geocode(e, text_format=text_format) for e in entities]

    def geocode(self, entity, *, text_format):
        with self._lock:
            self.calls.append(entity.id)
            if self.failures.get(entity.id, 0) > 0:
                self.failures[entity.id] -= 1
                raise ServiceUnavailableError("busy")
        entity.responses = [GeocodeResponse(name=entity.id, point=Point(entity.id, "1.0"))]
        entity.status_code = "Success"
        return entity


class NoWait(RateLimiter):
    def acquire(self, expected=None):
        return None


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(
            TableName="jobs",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield boto3.resource("dynamodb").Table("jobs")


class FakeSfn:
    class exceptions:  # noqa: N801 - the boto3 client's attribute
        class ExecutionAlreadyExists(Exception):
            pass

        class ExecutionDoesNotExist(Exception):
            pass

    def __init__(self) -> None:
        self.started: list[dict] = []
        self.status = "RUNNING"

    def start_execution(self, **kwargs):
        self.started.append(kwargs)
        return {
            "executionArn": f"{ENGINE_ARN.replace(':stateMachine:', ':execution:')}:{kwargs['name']}"
        }

    def describe_execution(self, executionArn):
        return {"status": self.status, "cause": "boom"}


def engine_job(aws, data: bytes, chunk_entities: int = 10):
    config = PipelineConfig(
        jobs_table_name="jobs",
        bucket_name=BUCKET,
        provider="AmazonLocation",
        engine_state_machine_arn=ENGINE_ARN,
        chunk_entities=chunk_entities,
    )
    objects = ObjectStore(boto3.client("s3"), BUCKET)
    boto3.client("s3").put_object(Bucket=BUCKET, Key="inbox/a.csv", Body=data)
    store = JobStore(aws)
    store.claim("job-1", InputObject(bucket=BUCKET, key="inbox/a.csv"))
    store.update("job-1", input_format="csv", status=jobs.PENDING)
    sfn = FakeSfn()
    engine = EngineJobs(config, objects, sfn, aws)
    return engine, objects, store, sfn


def context(aws, objects, store, geocoder, remaining=lambda: 600_000):
    return ChunkContext(
        objects=objects,
        store=store,
        table=aws,
        geocoder=geocoder,
        limiter=NoWait(aws, "test", 1000),
        work_prefix="work/",
        request_concurrency=3,
        remaining_ms=remaining,
        sleep=lambda s: None,
    )


def run_all_chunks(engine, objects, store, aws, geocoder):
    items = objects.get_json(WorkLayout("work/", "job-1").items)
    for item in items:
        while not geocode_chunk(
            {"job_id": "job-1", "chunk": item["chunk"]}, context(aws, objects, store, geocoder)
        )["done"]:
            pass
    return items


def test_engine_splits_geocodes_and_assembles_in_input_order(aws):
    engine, objects, store, sfn = engine_job(aws, csv_feed(25))
    arn = engine.create_job(store.get("job-1"))
    assert sfn.started[0]["name"] == "job-1" and arn.endswith(":job-1")
    items = run_all_chunks(engine, objects, store, aws, FakeGeocoder())
    assert [i["entities"] for i in items] == [10, 10, 6]

    progress = EngineProgress(aws, "job-1").read()
    assert progress == {"total": 26, "processed": 26, "failed": 1, "requests": 25}
    status = engine.get_job(arn)
    assert status.status == "Pending" and status.processed_entity_count == 26

    stored = engine.store_results(arn, store.get("job-1"), "results/a.csv/job-1/")
    assert stored.total == 26 and stored.failed == 1
    body = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="results/a.csv/job-1/succeeded.csv")["Body"]
        .read()
    )
    assert body.startswith(b"Bing Spatial Data Services, 2.0\r\n" + HEADER.encode())
    with open_feed(io.BytesIO(body), "succeeded.csv") as feed:
        ids = [e.id for e in feed]
    assert ids == [str(i) for i in range(25)]
    failed = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="results/a.csv/job-1/failed.csv")["Body"]
        .read()
    )
    with open_feed(io.BytesIO(failed), "failed.csv") as feed:
        (entity,) = list(feed)
    assert entity.id == "25" and entity.status_code == "BadRequest"
    assert "at least one address field" in entity.fault_reason


def test_a_chunk_resumes_after_its_last_piece_and_geocodes_nothing_twice(aws, monkeypatch):
    import geocode_dataflow.pipeline.chunks as chunks

    monkeypatch.setattr(chunks, "PIECE_ENTITIES", 4)
    engine, objects, store, _ = engine_job(aws, csv_feed(11), chunk_entities=12)
    engine.create_job(store.get("job-1"))
    geocoder = FakeGeocoder()
    calls = iter([600_000, 1_000])  # the third piece finds the time nearly up
    result = geocode_chunk(
        {"job_id": "job-1", "chunk": 0}, context(aws, objects, store, geocoder, lambda: next(calls))
    )
    assert result == {"job_id": "job-1", "chunk": 0, "done": False, "at": 8}
    result = geocode_chunk({"job_id": "job-1", "chunk": 0}, context(aws, objects, store, geocoder))
    assert result["done"] is True
    assert sorted(geocoder.calls, key=int) == [str(i) for i in range(11)], "each entity once"


def test_transient_errors_are_retried_and_a_chunk_that_cannot_finish_fails_its_entities(aws):
    engine, objects, store, sfn = engine_job(aws, csv_feed(5), chunk_entities=10)
    arn = engine.create_job(store.get("job-1"))
    geocoder = FakeGeocoder(failures={"1": 2, "2": 100})
    with pytest.raises(ServiceUnavailableError):
        geocode_chunk({"job_id": "job-1", "chunk": 0}, context(aws, objects, store, geocoder))
    assert geocoder.calls.count("1") == 3, "two failures, then the answer"
    fail_chunk(
        {
            "job_id": "job-1",
            "chunk": 0,
            "error": {"Error": "ServiceUnavailableError", "Cause": "busy"},
        },
        context(aws, objects, store, geocoder),
    )
    stored = engine.store_results(arn, store.get("job-1"), "results/a.csv/job-1/")
    assert stored.total == 6 and stored.failed == 6
    body = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="results/a.csv/job-1/failed.csv")["Body"]
        .read()
    )
    with open_feed(io.BytesIO(body), "failed.csv") as feed:
        entities = list(feed)
    assert [e.id for e in entities] == ["0", "1", "2", "3", "4", "5"]
    assert entities[1].status_code == "ServiceUnavailable" and "busy" in entities[1].fault_reason


def test_assembly_refuses_results_with_a_gap(aws):
    engine, objects, store, _ = engine_job(aws, csv_feed(15))
    arn = engine.create_job(store.get("job-1"))
    geocode_chunk({"job_id": "job-1", "chunk": 0}, context(aws, objects, store, FakeGeocoder()))
    with pytest.raises(Exception, match="chunk 1 has results for 0 of its 6"):
        engine.store_results(arn, store.get("job-1"), "results/a.csv/job-1/")


def test_engine_status_maps_the_execution(aws):
    engine, objects, store, sfn = engine_job(aws, csv_feed(3))
    arn = engine.create_job(store.get("job-1"))
    sfn.status = "SUCCEEDED"
    assert engine.get_job(arn).status == "Completed"
    sfn.status = "FAILED"
    aborted = engine.get_job(arn)
    assert aborted.status == "Aborted" and aborted.error_message == "boom"


def test_render_writes_xml_as_one_document():
    from geocode_dataflow.schema import GeocodeEntity

    data = b"".join(render([GeocodeEntity(id="x", status_code="Success")], {"format": "xml"}))
    assert data.startswith(b"<?xml") and data.rstrip().endswith(b"</GeocodeFeed>")


class VirtualClock:
    """Time that only moves when someone sleeps: the limiter's decisions, without waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_shares_one_rate_across_workers(aws):
    # Four workers, each with its own clock (they run in parallel), one shared rate; always the
    # worker whose time is earliest acts next, so the shared item sees claims in causal order.
    clocks = [VirtualClock() for _ in range(4)]
    workers = [RateLimiter(aws, "shared", 20, batch=3, clock=c, sleep=c.sleep) for c in clocks]
    sent = []
    for _ in range(200):
        w = min(range(4), key=lambda i: clocks[i].now)
        workers[w].acquire()
        sent.append(clocks[w].now)
        clocks[w].now += 0.03  # the request itself
    sent.sort()
    window = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert window <= 20, f"{window} requests fell in one second"
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert 0.85 * 20 <= rate <= 20


def test_rate_limiter_skips_slots_it_reaches_too_late(aws):
    clock = VirtualClock()
    limiter = RateLimiter(aws, "late", 10, batch=5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 2.0  # the worker was busy: its remaining claimed slots are in the past
    limiter.acquire()
    assert limiter.skipped == 4


class BatchGeocoder(FakeGeocoder):
    """Three entities per request, forward and reverse apart; a batch over two times out."""

    batch_size = 3

    def geocode_batch(self, entities, *, text_format):
        from geocode_dataflow.errors import SplitBatchError

        with self._lock:
            self.batches.append([e.id for e in entities])
        if len(entities) > 2:
            raise SplitBatchError("took longer than 60 seconds")
        return [self.geocode(e, text_format=text_format) for e in entities]


def test_batch_providers_get_grouped_requests_and_a_timeout_halves_the_batch(aws):
    engine, objects, store, _ = engine_job(aws, csv_feed(9), chunk_entities=20)
    arn = engine.create_job(store.get("job-1"))
    geocoder = BatchGeocoder()
    geocode_chunk({"job_id": "job-1", "chunk": 0}, context(aws, objects, store, geocoder))

    # 0 and 7 are reverse requests, 9 fails unsent; batches of three time out and are halved.
    assert sorted(geocoder.batches) == [
        ["0", "7"],
        ["1"],
        ["1", "2", "3"],
        ["2", "3"],
        ["4"],
        ["4", "5", "6"],
        ["5", "6"],
        ["8"],
    ]
    sent = sum(1 for _ in geocoder.batches)
    stored = engine.store_results(arn, store.get("job-1"), "results/a.csv/job-1/")
    assert stored.requests == sent and stored.failed == 1
    body = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="results/a.csv/job-1/succeeded.csv")["Body"]
        .read()
    )
    with open_feed(io.BytesIO(body), "succeeded.csv") as feed:
        assert [e.id for e in feed] == [str(i) for i in range(9)]


class CountingProvider:
    """A provider job whose processed count advances by ``step`` per status check."""

    def __init__(self, step: int) -> None:
        self.step, self.processed = step, 0

    def get_job(self, provider_job_id):
        from geocode_dataflow.client import DataflowJob

        self.processed += self.step
        return DataflowJob(
            id=provider_job_id,
            status="Pending",
            total_entity_count=1000,
            processed_entity_count=self.processed,
            failed_entity_count=0,
        )


@pytest.mark.parametrize(("step", "budget_used"), [(10, 1), (0, 5)])
def test_the_poll_budget_counts_only_checks_without_progress(aws, step, budget_used):
    from geocode_dataflow.pipeline.status import check_status

    store = JobStore(aws)
    store.claim("job-1", InputObject(bucket=BUCKET, key="inbox/a.csv"))
    store.update("job-1", status=jobs.PENDING)
    config = PipelineConfig(jobs_table_name="jobs", bucket_name=BUCKET)
    provider = CountingProvider(step)
    state = {"job_id": "job-1", "provider_job_id": "p", "attempt": 0, "max_attempts": 3}
    for _ in range(5):
        state = check_status(state, provider=provider, store=store, config=config)
    assert state["attempt"] == budget_used, "a job that advances is not stuck"
    assert state["checks"] == 5 and store.get("job-1").status_checks == 5


def test_amazon_estimated_point_addresses_are_demoted_and_offset():
    from geocode_dataflow.providers import amazon_location as places

    item = {"PlaceType": "PointAddress", "MatchScores": {"Overall": 1.0}}
    assert places._forward_confidence(item) == "High"
    assert places._calculation_method(item) == "Rooftop"
    estimated = {**item, "EstimatedPointAddress": True}
    assert places._forward_confidence(estimated) == "Medium"
    assert places._calculation_method(estimated) == "InterpolationOffset"
