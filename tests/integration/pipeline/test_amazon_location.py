"""The pipeline on Amazon Location: moto S3 -> the real handlers -> both state machines of
template.yaml executed by moto (the job's poll loop, the engine's Distributed Map) -> the
Amazon Location emulator over HTTP (boto3 geo-places, SigV4) -> S3 and DynamoDB."""

from __future__ import annotations

import json

import pytest
from engine_files import FIXTURES, HEADER, many_rows, read_set, run, text_file
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions
from location_emulator import FaultConfig

pytestmark = pytest.mark.integration

ROWS = [
    ["r1", "en-US", "", "1 Microsoft Way", "Redmond", "WA", "98052"],
    ["r2", "en-US", "Denver, CO"],
    ["r3", "en-US", "", "", "", "", "", "47.64054", "-122.12934"],
    ["r4", "en-US"],  # nothing to geocode: the service fails it
    ["r5", "", "Boise, ID"],
]


def options(**overrides) -> LocalPipelineOptions:
    settings = {
        "provider": "amazon-location",
        "initial_wait_seconds": 0,
        "min_wait_seconds": 1,  # a 600-check poll budget of ~10 minutes, not seconds
        "max_wait_seconds": 1,
        "requests_per_second": 200,
        "location_options": {"rate_limit": 200},
        **overrides,
    }
    return LocalPipelineOptions(**settings)


@pytest.fixture(scope="module")
def pipeline():
    with LocalPipeline(options()) as local:
        yield local


@pytest.mark.parametrize(
    ("name", "delimiter", "fmt"),
    [("mixed.csv", ",", "csv"), ("mixed.tab", "\t", "tab"), ("mixed.pipe", "|", "pipe")],
)
def test_text_files_come_back_in_their_format_with_coordinates(pipeline, name, delimiter, fmt):
    record = run(pipeline, text_file(delimiter, ROWS), name)

    assert (record.total_entities, record.succeeded_entities, record.failed_entities) == (5, 4, 1)
    got_format, succeeded = read_set(pipeline, record, "succeeded")
    assert got_format == fmt
    assert [e.id for e in succeeded] == ["r1", "r2", "r3", "r5"], "input order"
    for entity in succeeded:
        assert entity.status_code == "Success" and entity.responses[0].point is not None
    denver = succeeded[1].responses[0].point
    assert abs(float(denver.latitude) - 39.74) < 0.5 and abs(float(denver.longitude) + 104.99) < 0.5
    _, failed = read_set(pipeline, record, "failed")
    assert [(e.id, e.status_code) for e in failed] == [("r4", "BadRequest")]
    assert "at least one address field" in failed[0].fault_reason
    job = json.loads(pipeline.read(record.outputs["job"]))
    assert (job["succeeded_entities"], job["failed_entities"], job["status"]) == (4, 1, "COMPLETED")
    # Text results keep the input's version line and header, as the service's do.
    head = pipeline.read(record.outputs["succeeded"]).split(b"\r\n", 2)
    assert head[0] == b"Bing Spatial Data Services, 2.0"
    assert head[1] == HEADER.replace(", ", f"{delimiter} ").encode()


def test_the_walkthrough_feed_puts_the_empty_entity_in_the_failed_set(pipeline):
    record = run(pipeline, FIXTURES / "seven-mixed.xml")

    assert (record.total_entities, record.succeeded_entities, record.failed_entities) == (7, 6, 1)
    assert (record.geocode_entities, record.reverse_entities) == (4, 3)
    fmt, succeeded = read_set(pipeline, record, "succeeded")
    assert fmt == "xml" and [e.id for e in succeeded] == ["a1", "a2", "a3", "a5", "a6", "a7"]
    a5 = succeeded[3]
    assert all(r.entity_type == "PopulatedPlace" for r in a5.responses), "IncludeEntityTypes"
    assert any(v.property == "Locality" for v in succeeded[2].responses[0].query_parse_values)
    _, failed = read_set(pipeline, record, "failed")
    assert failed[0].id == "a4" and failed[0].fault_reason.startswith("To geocode a location")
    counts = pipeline.emulator.state.snapshot()["requests"]
    assert sum(counts.values()) >= 6


def test_faults_change_no_byte_of_the_results(pipeline):
    data = text_file(",", many_rows(60))
    clean = run(pipeline, data, "calm.csv")
    before = pipeline.emulator.state.snapshot()
    pipeline.emulator.set_faults(FaultConfig(throttle_rate=0.3, error_rate=0.1))
    try:
        stormy = run(pipeline, data, "stormy.csv")
    finally:
        pipeline.emulator.set_faults(FaultConfig())
    after = pipeline.emulator.state.snapshot()

    assert after["throttled"] > before["throttled"] and after["errors"].get("500", 0) > 0
    for which in ("succeeded", "failed"):
        assert (which in clean.outputs) == (which in stormy.outputs)
        if which in clean.outputs:
            assert pipeline.read(clean.outputs[which]) == pipeline.read(stormy.outputs[which])
    assert (stormy.succeeded_entities, stormy.failed_entities) == (
        clean.succeeded_entities,
        clean.failed_entities,
    )


def test_a_finished_chunk_is_never_geocoded_again(pipeline, load_event):
    """events/geocode_chunk_item.json and geocode_chunk_fail.json, as the engine sends them."""
    import boto3

    record = run(pipeline, text_file(",", many_rows(12)), "finished.csv")
    sent = sum(pipeline.emulator.state.snapshot()["requests"].values())
    # As if the job were still running (a late retry of a chunk that had finished).
    table = boto3.resource(
        "dynamodb", endpoint_url=pipeline.aws_endpoint, region_name="us-east-1"
    ).Table(pipeline.table_name)
    table.update_item(
        Key={"job_id": record.job_id},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": "PENDING"},
    )

    for name in ("geocode_chunk_item", "geocode_chunk_fail"):
        event = load_event(name)
        event["chunk"]["job_id"] = record.job_id
        payload, is_error, _ = pipeline.lambdas.invoke("GeocodeChunkFunction", event)
        assert not is_error, payload
    assert sum(pipeline.emulator.state.snapshot()["requests"].values()) == sent
    again = pipeline.read(record.outputs["succeeded"])
    pipeline.lambdas.invoke(
        "DownloadResultsFunction",
        {"state": {"job_id": record.job_id, "provider_job_id": record.provider_job_id}},
    )
    assert pipeline.read(record.outputs["succeeded"]) == again


def test_the_engine_runs_many_chunks_and_the_poll_loop_sees_them(pipeline):
    import boto3

    table = boto3.resource(
        "dynamodb", endpoint_url=pipeline.aws_endpoint, region_name="us-east-1"
    ).Table(pipeline.table_name)
    record = run(pipeline, text_file(",", many_rows(450)), "many.csv")

    assert record.total_entities == 450 and record.processed_entities == 450
    assert record.status_checks >= 1
    progress = table.get_item(Key={"job_id": f"#progress#{record.job_id}"})["Item"]
    assert int(progress["processed"]) >= 450 - 50 and int(progress["total"]) == 450
    _, succeeded = read_set(pipeline, record, "succeeded")
    assert [e.id for e in succeeded] == [f"e{i}" for i in range(450)]


@pytest.fixture(scope="module")
def paced():
    """A pipeline paced at 19 requests per second against an account limited to 20: the
    limiter's own 5 % margin and one more request of headroom, so that a send delayed by this
    shared 2-core machine (tens of ms, now and then) is not counted as a burst by the
    emulator's sliding second."""
    with LocalPipeline(
        options(requests_per_second=19, location_options={"rate_limit": 20})
    ) as local:
        yield local


def test_the_provider_never_sees_more_requests_per_second_than_configured(paced):
    paced.emulator.state.reset()
    run(paced, text_file(",", many_rows(120)), "paced.csv")
    stats = paced.emulator.state.snapshot()
    assert stats["max_accepted_per_second"] <= 20
    assert stats["rate_limited"] == 0 and stats["throttled"] == 0
    assert sum(stats["requests"].values()) == 120


def test_a_chunk_killed_half_way_loses_nothing_and_duplicates_nothing(paced):
    from geocode_dataflow.pipeline.chunks import PIECE_ENTITIES

    paced.emulator.state.reset()
    since = len(paced.lambdas.invocations)
    entities = 160  # one chunk, eight seconds of requests at 20 per second
    paced.lambdas.kill_during("GeocodeChunkFunction", after_seconds=4.0)
    record = run(paced, text_file(",", many_rows(entities)), "killed.csv")

    killed = [
        i
        for i in paced.lambdas.invocations[since:]
        if i.function == "GeocodeChunkFunction" and i.error_type == "Runtime.ExitError"
    ]
    assert killed, "the chunk's environment was killed during the run"
    _, succeeded = read_set(paced, record, "succeeded")
    assert [e.id for e in succeeded] == [f"e{i}" for i in range(entities)]
    sent = sum(paced.emulator.state.snapshot()["requests"].values())
    # Only the piece being geocoded when the environment died is asked again.
    assert entities <= sent <= entities + PIECE_ENTITIES
