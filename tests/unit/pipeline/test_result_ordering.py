"""``ordering``: the Bing service's result sets published in input order, nothing lost.

S3 is moto in-process; the sets are written as the service would (any order, its own text).
"""

import boto3
import pytest
from geocode_dataflow.pipeline import ordering
from geocode_dataflow.pipeline.jobs import InputObject, JobRecord
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import StoredResults
from geocode_dataflow.schema import open_feed
from moto import mock_aws

VERSION = "Bing Spatial Data Services, 2.0"
HEADER = "Id, GeocodeRequest/Query, StatusCode, FaultReason, TraceId"


def text(rows: list[str]) -> bytes:
    return ("\n".join([VERSION, HEADER, *rows]) + "\n").encode()


@pytest.fixture
def store():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="results-bucket")
        yield ObjectStore(s3, "results-bucket")


def record(**fields) -> JobRecord:
    return JobRecord(
        job_id="j1",
        status="PENDING",
        input=InputObject(bucket="results-bucket", key="inbox/in.csv"),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        input_format="csv",
        **fields,
    )


def ids(store: ObjectStore, uri: str) -> list[str]:
    with store.open(store.key_of(uri)) as body, open_feed(body, uri) as feed:
        return [entity.id for entity in feed]


def test_the_services_sets_are_rewritten_in_input_order_with_its_own_header(store):
    store.put_stream("inbox/in.csv", [text(["a,x", "b,y", "c,", "d,z", "e,w"])], "text/csv")
    # Where the provider stored them: they are rewritten in place.
    staged = {
        "succeeded": "results/in.csv/j1/succeeded.csv",
        "failed": "results/in.csv/j1/failed.csv",
    }
    service_rows = ["e,w,Success,,t5", "b,y,Success,,t2", "zz,q,Success,,t9", "a,x,Success,,t1"]
    store.put_stream(staged["succeeded"], [text(service_rows)], "text/csv")
    store.put_stream(staged["failed"], [text(['c,,BadRequest,"no, address",t3'])], "text/csv")
    given = StoredResults(
        outputs={name: store.uri(key) for name, key in staged.items()},
        total=5,
        processed=5,
        failed=1,
    )

    stored = ordering.in_input_order(record(), given, store, "results/in.csv/j1/")

    assert stored.outputs == {
        "succeeded": "s3://results-bucket/results/in.csv/j1/succeeded.csv",
        "failed": "s3://results-bucket/results/in.csv/j1/failed.csv",
    }
    assert (stored.total, stored.processed, stored.failed) == (5, 5, 1)
    # Input order; "d" the service never answered; "zz" (not in the input) kept, at the end.
    assert ids(store, stored.outputs["succeeded"]) == ["a", "b", "e", "zz"]
    assert ids(store, stored.outputs["failed"]) == ["c"]
    published = store.open("results/in.csv/j1/succeeded.csv").read().decode()
    assert published.splitlines()[:2] == [VERSION, HEADER]  # the header exactly as it came
    failed = store.open("results/in.csv/j1/failed.csv").read().decode()
    assert '"no, address"' in failed


def test_only_the_services_own_whole_jobs_are_reordered():
    assert ordering.needs_reordering(record(provider="BingDataflow"))
    assert ordering.needs_reordering(record())  # records written before providers existed
    assert not ordering.needs_reordering(record(provider="AmazonLocation"))
    assert not ordering.needs_reordering(record(provider="BingDataflow", parent_job_id="p"))
