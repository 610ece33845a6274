"""Provider slots (the queueing that keeps within the provider's limits) and crash-safe writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from geocode_dataflow.pipeline.observability import metrics
from geocode_dataflow.pipeline.slots import ProviderSlots
from geocode_dataflow.pipeline.storage import ObjectStore
from moto import mock_aws


@pytest.fixture
def table():
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="jobs",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield boto3.resource("dynamodb").Table("jobs")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_in_flight_limit_queues_the_next_job_until_a_slot_frees(table):
    slots = ProviderSlots(table, max_in_flight=2, max_per_day=50)
    assert slots.try_acquire("a").acquired and slots.try_acquire("b").acquired
    refused = slots.try_acquire("c")
    assert not refused.acquired and "2 jobs are in process" in refused.reason
    slots.release("a")
    assert slots.try_acquire("c").acquired
    assert slots.snapshot()["in_flight"] == ["b", "c"]


def test_acquire_and_release_are_idempotent(table):
    slots = ProviderSlots(table, max_in_flight=1, max_per_day=50)
    assert slots.try_acquire("a").acquired
    assert slots.try_acquire("a").acquired, "a duplicate event of the same job keeps its slot"
    assert slots.snapshot()["started_last_24h"] == 1
    slots.release("a")
    slots.release("a")
    assert slots.snapshot()["in_flight"] == []


def test_daily_limit_frees_with_time(table):
    clock = Clock()
    slots = ProviderSlots(table, max_in_flight=10, max_per_day=2, clock=clock)
    for job in ("a", "b"):
        assert slots.try_acquire(job).acquired
        slots.release(job)
    refused = slots.try_acquire("c")
    assert not refused.acquired and "in the last 24 hours" in refused.reason
    clock.now += timedelta(hours=24, seconds=1)
    assert slots.try_acquire("c").acquired


def test_concurrent_acquisitions_never_exceed_the_limit(table):
    slots = ProviderSlots(table, max_in_flight=3, max_per_day=100)
    results: dict[str, bool] = {}

    def take(job: str) -> None:
        results[job] = slots.try_acquire(job).acquired

    threads = [threading.Thread(target=take, args=(f"job-{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results.values()) == 3
    assert len(slots.snapshot()["in_flight"]) == 3


@pytest.mark.parametrize("size", [64 * 1024, 20 * 1024 * 1024], ids=["single-put", "multipart"])
def test_a_stream_that_dies_half_way_leaves_no_object(size):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="results-bucket")
        store = ObjectStore(s3, "results-bucket")

        def chunks():
            sent = 0
            while sent < size:
                yield b"x" * (1024 * 1024 if size > 1024 * 1024 else 1024)
                sent += 1024 * 1024 if size > 1024 * 1024 else 1024
            raise ConnectionResetError("provider connection reset mid-download")

        with pytest.raises(ConnectionResetError):
            store.put_stream("results/x/succeeded.csv", chunks(), "text/csv")
        assert s3.list_objects_v2(Bucket="results-bucket").get("KeyCount", 0) == 0
        assert s3.list_multipart_uploads(Bucket="results-bucket").get("Uploads", []) == []


def test_a_whole_stream_is_stored(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="results-bucket")
        store = ObjectStore(s3, "results-bucket")
        data = [bytes([i]) * 100_000 for i in range(100)]
        assert store.put_stream("k", iter(data), "text/plain") == 10_000_000
        assert s3.get_object(Bucket="results-bucket", Key="k")["Body"].read() == b"".join(data)


def test_retrying_the_same_job_does_not_eat_the_daily_allowance(table):
    slots = ProviderSlots(table, max_in_flight=10, max_per_day=2)
    for _ in range(5):  # the provider refused (503) five times; the dispatcher retried
        assert slots.try_acquire("again").acquired
        slots.release("again")
    assert slots.snapshot()["started_last_24h"] == 1
    slots.release("again", not_started=True)
    assert slots.snapshot()["started_last_24h"] == 0
    assert slots.try_acquire("b").acquired and slots.try_acquire("c").acquired


class RacedTable:
    """The jobs table, with another writer taking a slot between our read and our first write."""

    def __init__(self, table, rival) -> None:
        self._table = table
        self._rival = rival

    def get_item(self, **kwargs):
        return self._table.get_item(**kwargs)

    def put_item(self, **kwargs):
        rival, self._rival = self._rival, None
        if rival:
            rival()
        return self._table.put_item(**kwargs)


def test_a_lost_write_race_is_retried_and_counted_as_a_slot_conflict(table):
    rival = ProviderSlots(table, max_in_flight=3, max_per_day=50)
    rival.try_acquire("warm-up")  # the item exists: the race is on its version number
    metrics.clear_metrics()
    slots = ProviderSlots(
        RacedTable(table, lambda: rival.try_acquire("rival")), max_in_flight=3, max_per_day=50
    )

    decision = slots.try_acquire("ours")

    assert decision.acquired and decision.in_flight == 3  # counted on the fresh read
    assert rival.holders() == ["ours", "rival", "warm-up"]
    assert metrics.metric_set["SlotConflicts"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_an_uncontended_update_counts_no_conflict(table):
    metrics.clear_metrics()
    slots = ProviderSlots(table, max_in_flight=3, max_per_day=50)
    assert slots.try_acquire("alone").acquired
    slots.release("alone")
    assert "SlotConflicts" not in metrics.metric_set


def test_an_object_read_once_can_feed_a_second_consumer():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="input-bucket")
        data = bytes(range(256)) * 5000
        s3.put_object(Bucket="input-bucket", Key="inbox/a.xml", Body=data)
        copied: list[bytes] = []

        with ObjectStore(s3, "input-bucket").open("inbox/a.xml", copy_to=copied.append) as body:
            read = b"".join(iter(lambda: body.read(7000), b""))

        assert read == data and b"".join(copied) == data
        assert all(len(block) <= 7000 for block in copied)
