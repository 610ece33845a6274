"""``backups.json`` changed by compare-and-swap (S3 conditional writes, as moto enforces them):
no change is lost to another writer's. The other writer steps in between a read and its write
on purpose (threads would find moto's check-then-write not atomic, where S3's is)."""

from __future__ import annotations

import boto3
import pytest
from geocode_dataflow.pipeline import backup_history
from geocode_dataflow.pipeline.backup_history import change_history, read_history
from geocode_dataflow.pipeline.storage import ObjectStore
from moto import mock_aws

KEY = "datasources/MyStores/backups.json"


@pytest.fixture
def objects():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="history-bucket")
        yield ObjectStore(s3, "history-bucket")


def test_a_change_meeting_another_writers_is_made_again_on_what_that_writer_wrote(objects):
    change_history(objects, KEY, "MyStores", lambda h: h.backups.append({"job_id": "a"}))
    attempts = []

    def add_b(history):
        attempts.append([entry["job_id"] for entry in history.backups])
        if len(attempts) == 1:  # another backup lists itself between our read and our write
            change_history(objects, KEY, "MyStores", lambda h: h.backups.append({"job_id": "c"}))
        history.backups.append({"job_id": "b"})

    change_history(objects, KEY, "MyStores", add_b)

    assert attempts == [["a"], ["a", "c"]]
    assert [e["job_id"] for e in read_history(objects, KEY, "MyStores").backups] == ["a", "c", "b"]


def test_the_first_history_is_created_once_even_by_two_writers(objects):
    def add_first(history):
        if not history.backups and not getattr(add_first, "raced", False):
            add_first.raced = True
            change_history(objects, KEY, "MyStores", lambda h: h.backups.append({"job_id": "x"}))
        history.backups.append({"job_id": "y"})

    change_history(objects, KEY, "MyStores", add_first)
    assert [e["job_id"] for e in read_history(objects, KEY, "MyStores").backups] == ["x", "y"]


def test_pruning_returns_what_it_took_out_and_a_change_that_keeps_trying_gives_up(
    objects, monkeypatch
):
    for job in ("a", "b", "c"):
        change_history(objects, KEY, "MyStores", lambda h, j=job: h.backups.append({"job_id": j}))
    removed = change_history(objects, KEY, "MyStores", lambda h: h.beyond(2))
    assert [e["job_id"] for e in removed] == ["a"]

    monkeypatch.setattr(backup_history, "MAX_ATTEMPTS", 3)

    def always_raced(history):
        change_history(objects, KEY, "MyStores", lambda h: h.backups.append({"job_id": "z"}))

    with pytest.raises(backup_history.HistoryConflictError):
        change_history(objects, KEY, "MyStores", always_raced)
