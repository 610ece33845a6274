"""The Bing service returns rows in an order of its own: end to end, with the emulator
shuffling its result sets (quirk ``shuffled-output``), the pipeline's ``succeeded`` and
``failed`` sets and ``results.csv`` come back in input order, the service's entities intact.

moto S3 and DynamoDB, the real handlers, the state machine of template.yaml executed by moto,
the Dataflow emulator over HTTP on loopback.
"""

from __future__ import annotations

import csv
import io

import pytest
from geocode_dataflow.schema import GeocodeEntity, open_feed
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

PLACES = ["Denver, CO", "Boise, ID", "Paris, France", "Lyon, France", "98052", "Austin, TX"]
ROWS = 24  # every fifth one has no query: the service fails it


def text_input() -> tuple[bytes, list[str]]:
    ids = [f"e{n:02d}" for n in range(ROWS)]
    lines = [
        "Bing Spatial Data Services, 2.0",
        "Id,GeocodeRequest/Query,GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude,"
        "StatusCode,FaultReason,TraceId",
    ]
    for n, entity_id in enumerate(ids):
        query = "" if n % 5 == 3 else PLACES[n % len(PLACES)]
        lines.append(f'{entity_id},"{query}"')
    return ("\n".join(lines) + "\n").encode(), ids


def xml_input() -> tuple[bytes, list[str]]:
    ids = [f"x{n:02d}" for n in range(ROWS)]
    entities = []
    for n, entity_id in enumerate(ids):
        query = "" if n % 5 == 3 else PLACES[n % len(PLACES)]
        request = f'<GeocodeRequest Query="{query}"/>' if query else "<GeocodeRequest/>"
        entities.append(f'<GeocodeEntity Id="{entity_id}">{request}</GeocodeEntity>')
    feed = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<GeocodeFeed xmlns="http://schemas.microsoft.com/search/local/2010/5/geocode" '
        f'Version="2.0">{"".join(entities)}</GeocodeFeed>'
    )
    return feed.encode(), ids


def plain_table() -> tuple[bytes, list[str]]:
    lines = ["Name,City"] + [f'Shop {n},"{PLACES[n % len(PLACES)]}"' for n in range(ROWS)]
    return ("\r\n".join(lines) + "\r\n").encode(), [str(n + 1) for n in range(ROWS)]


@pytest.fixture(scope="module")
def pipeline():
    options = LocalPipelineOptions(
        key="reorder-key-0123456789",
        emulator_processing_seconds=0.2,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
        emulator_options={"quirks": {"shuffled-output"}, "seed": 7},
    )
    with LocalPipeline(options) as local:
        yield local


def entities(data: bytes, uri: str) -> list[GeocodeEntity]:
    with open_feed(data, uri.rsplit("/", 1)[-1]) as feed:
        return list(feed)


def set_ids(pipeline: LocalPipeline, uri: str) -> list[str]:
    return [entity.id for entity in entities(pipeline.read(uri), uri)]


@pytest.mark.parametrize(
    ("name", "make"),
    [("orders.csv", text_input), ("orders.xml", xml_input), ("shops.csv", plain_table)],
)
def test_results_come_back_in_input_order_although_the_service_shuffles(pipeline, name, make):
    data, input_ids = make()
    job_id = pipeline.drop(data, name)
    record = pipeline.wait(job_id)
    assert record.status == "COMPLETED", record.error

    # The service's own sets, as the emulator sent them: shuffled, so the test can fail.
    service = pipeline.emulator.state.jobs[record.provider_job_id].result_paths
    sent = entities(service["succeeded"].read_bytes(), record.outputs["succeeded"])
    sent_ids = [entity.id for entity in sent]
    assert sent_ids != sorted(sent_ids, key=input_ids.index)

    succeeded = set_ids(pipeline, record.outputs["succeeded"])
    failed = set_ids(pipeline, record.outputs["failed"]) if "failed" in record.outputs else []
    assert succeeded == [i for i in input_ids if i in set(succeeded)]
    assert failed == [i for i in input_ids if i in set(failed)]
    assert sorted(succeeded + failed) == sorted(input_ids)
    assert (len(succeeded), len(failed)) == (record.succeeded_entities, record.failed_entities)

    # The published sets hold the service's entities unchanged, only reordered.
    by_id = {entity.id: entity for entity in sent}
    published = entities(pipeline.read(record.outputs["succeeded"]), record.outputs["succeeded"])
    assert all(entity == by_id[entity.id] for entity in published)

    table = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(table, newline="")))
    if name == "shops.csv":
        assert [r[0] for r in rows] == [f"Shop {n}" for n in range(ROWS)]
    else:
        assert [r[0] for r in rows] == input_ids
    status = [r[header.index("match_status")] for r in rows]
    assert status.count("failed") == len(failed)


def test_a_file_split_into_parts_is_merged_in_input_order_although_the_service_shuffles():
    options = LocalPipelineOptions(
        key="reorder-parts-key-0123456789",
        emulator_processing_seconds=0.2,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
        max_entities=10,  # 24 entities: three provider jobs
        emulator_options={"quirks": {"shuffled-output"}, "seed": 7},
    )
    data, input_ids = text_input()
    with LocalPipeline(options) as local:
        job_id = local.drop(data, "parted.csv")
        record = local.wait(job_id, timeout=120)
        assert record.status == "COMPLETED", record.error
        assert len(record.parts or []) == 3
        sent = [
            [e.id for e in entities(job.result_paths["succeeded"].read_bytes(), "s.csv")]
            for job in local.emulator.state.jobs.values()
        ]
        assert any(ids != sorted(ids, key=input_ids.index) for ids in sent)  # shuffled
        succeeded = set_ids(local, record.outputs["succeeded"])
        failed = set_ids(local, record.outputs["failed"])
        assert succeeded == [i for i in input_ids if i in set(succeeded)]
        assert failed == [i for i in input_ids if i in set(failed)]
        assert sorted(succeeded + failed) == sorted(input_ids)
        table = local.read(record.outputs["results_csv"]).decode("utf-8-sig")
        assert [row[0] for row in csv.reader(io.StringIO(table, newline=""))][1:] == input_ids
