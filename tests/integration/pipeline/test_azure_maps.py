"""The pipeline on Azure Maps: moto S3 -> the real handlers -> both state machines executed by
moto -> the Azure Maps emulator over HTTP (batches of up to 100, the key from Secrets Manager
in the subscription-key header) -> S3 and DynamoDB."""

from __future__ import annotations

import json

import pytest
from azure_maps_emulator import FaultConfig
from engine_files import FIXTURES, many_rows, read_set, run, text_file
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

ROWS = [
    ["r1", "en-US", "", "1 Microsoft Way", "Redmond", "WA", "98052"],
    ["r2", "en-US", "Denver, CO"],
    ["r3", "en-US", "", "", "", "", "", "47.64054", "-122.12934"],
    ["r4", "en-US"],  # nothing to geocode: the service fails it
    ["r5", "fr-FR", "Boise, ID"],
    ["r6", "", "", "", "", "", "", "91", "0"],  # out of range: failed without a request
]
KEY = "azure-key-for-tests-0123456789"


@pytest.fixture(scope="module")
def pipeline():
    options = LocalPipelineOptions(
        provider="azure-maps",
        key=KEY,
        initial_wait_seconds=0,
        min_wait_seconds=1,  # a 600-check poll budget of ~10 minutes, not seconds
        max_wait_seconds=1,
        requests_per_second=50,
        azure_options={"rate_limit": 50},
    )
    with LocalPipeline(options) as local:
        yield local


def requests_sent(pipeline) -> int:
    return sum(pipeline.emulator.state.snapshot()["requests"].values())


@pytest.mark.parametrize(
    ("name", "delimiter", "fmt"),
    [("mixed.csv", ",", "csv"), ("mixed.tab", "\t", "tab"), ("mixed.pipe", "|", "pipe")],
)
def test_text_files_come_back_in_their_format_with_coordinates(pipeline, name, delimiter, fmt):
    before = requests_sent(pipeline)
    record = run(pipeline, text_file(delimiter, ROWS), name)

    assert (record.total_entities, record.succeeded_entities, record.failed_entities) == (6, 4, 2)
    got, succeeded = read_set(pipeline, record, "succeeded")
    assert got == fmt and [e.id for e in succeeded] == ["r1", "r2", "r3", "r5"]
    denver = succeeded[1].responses[0].point
    assert abs(float(denver.latitude) - 39.74) < 0.5 and abs(float(denver.longitude) + 104.99) < 0.5
    _, failed = read_set(pipeline, record, "failed")
    assert [e.id for e in failed] == ["r4", "r6"]
    assert "outside [-90, 90]" in failed[1].fault_reason
    # Forward en-US, forward fr-FR, reverse en-US: three requests (Accept-Language is per request).
    assert requests_sent(pipeline) - before == 3
    job = json.loads(pipeline.read(record.outputs["job"]))
    assert job["provider"] == "AzureMaps" and job["provider_requests"] == 3


def test_the_walkthrough_feed_puts_the_empty_entity_in_the_failed_set(pipeline):
    record = run(pipeline, FIXTURES / "seven-mixed.xml")
    assert (record.total_entities, record.succeeded_entities, record.failed_entities) == (7, 6, 1)
    fmt, succeeded = read_set(pipeline, record, "succeeded")
    assert fmt == "xml" and [e.id for e in succeeded] == ["a1", "a2", "a3", "a5", "a6", "a7"]
    _, failed = read_set(pipeline, record, "failed")
    assert failed[0].id == "a4" and failed[0].fault_reason.startswith("To geocode a location")


def test_250_entities_take_at_least_three_batches(pipeline):
    before = requests_sent(pipeline)
    record = run(pipeline, text_file(",", many_rows(250, "z")), "big.csv")
    sent = requests_sent(pipeline) - before
    assert 3 <= sent <= 6, sent
    assert record.provider_requests == sent
    _, succeeded = read_set(pipeline, record, "succeeded")
    assert [e.id for e in succeeded] == [f"z{i}" for i in range(250)]


def test_faults_change_no_byte_of_the_results(pipeline):
    data = text_file(",", many_rows(120, "z", ("en-US", "de-DE")))
    clean = run(pipeline, data, "calm.csv")
    pipeline.emulator.set_faults(FaultConfig(throttle_rate=0.3, error_rate=0.1))
    try:
        stormy = run(pipeline, data, "stormy.csv")
    finally:
        pipeline.emulator.set_faults(FaultConfig())
    for which in ("succeeded", "failed"):
        assert (which in clean.outputs) == (which in stormy.outputs)
        if which in clean.outputs:
            assert pipeline.read(clean.outputs[which]) == pipeline.read(stormy.outputs[which])
    assert stormy.provider_requests > clean.provider_requests


def test_a_batch_that_times_out_is_split_and_completed(pipeline):
    data = text_file(",", many_rows(90, "z"))
    clean = run(pipeline, data, "whole.csv")
    pipeline.emulator.set_faults(FaultConfig(timeout_over_items=30))
    try:
        split = run(pipeline, data, "split.csv")
    finally:
        pipeline.emulator.set_faults(FaultConfig())
    assert pipeline.read(clean.outputs["succeeded"]) == pipeline.read(split.outputs["succeeded"])
    assert split.provider_requests > clean.provider_requests


def test_a_refused_key_fails_the_job_with_azures_words_and_never_shows_the_key(pipeline):
    from aws_lambda_powertools.utilities import parameters

    secrets = pipeline.client("secretsmanager")
    secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString="wrong-azure-key-000")
    parameters.clear_caches()
    pipeline.lambdas.recycle()  # warm environments cache the key for minutes, as on Lambda
    try:
        job_id = pipeline.drop(text_file(",", many_rows(8, "k")), "refused.csv")
        record = pipeline.wait(job_id, timeout=180)
    finally:
        secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString=KEY)
        parameters.clear_caches()
        pipeline.lambdas.recycle()

    assert record.status == "FAILED"
    assert "AuthenticationError" in record.error["message"], record.error
    assert "401" in record.error["message"]
    document = json.dumps(record.to_document())
    assert "wrong-azure-key-000" not in document and KEY not in document
    assert pipeline.execution(job_id)["status"] == "FAILED"
