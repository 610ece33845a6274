"""The pipeline end to end: moto S3 -> the real handlers -> the state machine of template.yaml
executed by moto -> the Dataflow emulator over HTTP -> S3 and DynamoDB.

One LocalPipeline serves the module; each test drops its own file (its own job id) and asserts
on the result objects, the job record and the execution history.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities import parameters
from geocode_dataflow.schema import open_feed
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pipeline"
SAMPLE = (
    Path(__file__).resolve().parents[3]
    / "layers"
    / "local"
    / "local_pipeline"
    / "samples"
    / "demo-addresses.xml"
)

CSV_HEADER = (
    "Id, GeocodeRequest/Culture, GeocodeRequest/Query, GeocodeRequest/Address/AddressLine, "
    "GeocodeRequest/Address/Locality, GeocodeRequest/Address/AdminDistrict, GeocodeRequest/Address/PostalCode, "
    "ReverseGeocodeRequest/Location/Latitude, ReverseGeocodeRequest/Location/Longitude, "
    "GeocodeResponse/Point/Latitude, GeocodeResponse/Point/Longitude, GeocodeResponse/EntityType, "
    "GeocodeResponse/Confidence, StatusCode, FaultReason"
)
ROWS = [
    ["r1", "en-US", "", "1 Microsoft Way", "Redmond", "WA", "98052"],
    ["r2", "en-US", "Denver, CO"],
    ["r3", "en-US", "", "", "", "", "", "47.64054", "-122.12934"],
]


def text_file(delimiter: str, rows: list[list[str]] = ROWS) -> bytes:
    header = CSV_HEADER.replace(", ", f"{delimiter} ")
    lines = ["Bing Spatial Data Services, 2.0", header] + [delimiter.join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def pipeline():
    options = LocalPipelineOptions(
        key="e2e-key-0123456789",
        emulator_processing_seconds=0.2,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
        emulator_options={"max_pending_jobs": 100, "max_jobs_per_day": 1000},
    )
    with LocalPipeline(options) as local:
        yield local


def provider_job_count(pipeline: LocalPipeline) -> int:
    return len(pipeline.emulator.state.jobs)


def state_names(pipeline: LocalPipeline, job_id: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in pipeline.history(job_id)
        if "stateEnteredEventDetails" in e
    ]


def job_json(pipeline: LocalPipeline, record) -> dict:
    return json.loads(pipeline.read(record.outputs["job"]))


def test_mixed_forward_and_reverse_job_completes_with_both_sets(pipeline):
    job_id = pipeline.drop(SAMPLE)
    record = pipeline.wait(job_id)

    assert record.status == "COMPLETED", record.error
    assert (record.total_entities, record.geocode_entities, record.reverse_entities) == (7, 5, 2)
    assert (record.succeeded_entities, record.failed_entities) == (6, 1)
    assert record.provider_job_id and record.input.version_id
    assert set(record.outputs) == {"succeeded", "failed", "results_csv", "results_geojson", "job"}
    assert all(
        uri.startswith(f"s3://{pipeline.bucket}/results/demo-addresses.xml/{job_id}/")
        for uri in record.outputs.values()
    )

    succeeded = pipeline.read(record.outputs["succeeded"])
    failed = pipeline.read(record.outputs["failed"])
    ok = {e.id: e for e in open_feed(_tmp(succeeded, "s.xml"))}
    bad = {e.id: e for e in open_feed(_tmp(failed, "f.xml"))}
    assert set(ok) == {"hq", "capitol", "zip-only", "lyon", "near-redmond", "near-sydney"}
    assert set(bad) == {"empty"}
    assert bad["empty"].status_code == "BadRequest"
    assert "at least one address field" in bad["empty"].fault_reason
    hq = ok["hq"].responses[0]
    assert (
        abs(float(hq.point.latitude) - 47.64) < 0.1
        and abs(float(hq.point.longitude) + 122.13) < 0.1
    )
    assert "Redmond" in (ok["near-redmond"].responses[0].address.locality or "")

    document = job_json(pipeline, record)
    assert document["status"] == "COMPLETED"
    assert (
        document["total_entities"],
        document["succeeded_entities"],
        document["failed_entities"],
    ) == (7, 6, 1)
    assert document["input"]["uri"] == f"s3://{pipeline.bucket}/inbox/demo-addresses.xml"
    assert document["summary"] == record.summary
    assert (record.summary["rows"], record.summary["failed"]) == (7, 1)
    assert record.summary["matched"] + record.summary["no_match"] == 6

    # One table in input order, every input row; a GeoJSON of the matched ones.
    table = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(table, newline="")))
    input_ids = [e.id for e in open_feed(SAMPLE)]
    assert [r[0] for r in rows] == input_ids
    status = dict(zip(input_ids, (r[header.index("match_status")] for r in rows), strict=True))
    assert status["empty"] == "failed" and status["hq"] == "matched"
    geojson = json.loads(pipeline.read(record.outputs["results_geojson"]))
    points = {f["properties"]["Id"]: f["geometry"]["coordinates"] for f in geojson["features"]}
    assert len(points) == record.summary["matched"]
    assert abs(points["hq"][0] + 122.13) < 0.1 and abs(points["hq"][1] - 47.64) < 0.1

    names = state_names(pipeline, job_id)
    assert (
        names[0] == "Wait For Job" and "Check Job Status" in names and names[-1] == "Job Completed"
    )
    assert pipeline.execution(job_id)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("fmt", "name", "data"),
    [
        ("csv", "batch.csv", text_file(",")),
        ("tab", "batch.tsv", text_file("\t")),
        ("pipe", "batch.pipe", text_file("|")),
        ("xml", "seven.xml", (FIXTURES / "seven-mixed.xml").read_bytes()),
    ],
)
def test_each_format_round_trips_through_the_pipeline(pipeline, fmt, name, data):
    job_id = pipeline.drop(data, name)
    record = pipeline.wait(job_id)

    assert record.status == "COMPLETED", record.error
    assert record.input_format == fmt
    succeeded = pipeline.read(record.outputs["succeeded"])
    with open_feed(_tmp(succeeded, record.outputs["succeeded"].rsplit("/", 1)[-1])) as feed:
        entities = list(feed)
        assert feed.format == fmt
        if fmt != "xml":
            # Text results keep exactly the uploaded header line.
            assert succeeded.decode("utf-8").splitlines()[1] == data.decode("utf-8").splitlines()[1]
    assert len(entities) == record.succeeded_entities


def test_job_without_failures_has_no_failed_set(pipeline):
    job_id = pipeline.drop(text_file(","), "all-good.csv")
    record = pipeline.wait(job_id)

    assert record.status == "COMPLETED"
    assert record.failed_entities == 0
    assert set(record.outputs) == {"succeeded", "results_csv", "results_geojson", "job"}
    keys = list(pipeline.objects(f"results/all-good.csv/{job_id}/"))
    assert sorted(k.rsplit("/", 1)[-1] for k in keys) == [
        "job.json",
        "results.csv",
        "results.geojson",
        "succeeded.csv",
    ]


def test_a_name_near_s3s_key_limit_completes_with_every_output_key_within_it(pipeline):
    # S3 takes input keys of up to 1,024 bytes; moto takes longer ones, ObjectStore does not.
    name = "deep/" + "ü" * 500 + ".csv"
    assert len(f"inbox/{name}".encode()) == 1015
    job_id = pipeline.drop(text_file(","), name)
    record = pipeline.wait(job_id)

    assert record.status == "COMPLETED", record.error
    keys = [k for k in pipeline.objects() if job_id in k]
    assert {k.rsplit("/", 1)[-1] for k in keys} >= {"job.json", "succeeded.csv"}
    assert all(len(k.encode()) <= 1024 for k in keys), max(len(k.encode()) for k in keys)
    assert all(k.startswith("results/deep/üüü") and "~/" in k for k in keys)


def test_a_text_file_with_request_columns_only_comes_back_with_coordinates(pipeline):
    # The service writes back only the uploaded columns: the pipeline adds the response ones.
    data = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\nd1,Denver CO\nb2,Boise ID\n"
    job_id = pipeline.drop(data, "request-only.csv")
    record = pipeline.wait(job_id)

    assert record.status == "COMPLETED", record.error
    entities = list(open_feed(_tmp(pipeline.read(record.outputs["succeeded"]), "s.csv")))
    assert [e.id for e in entities] == ["d1", "b2"]
    assert all(e.responses and e.responses[0].point for e in entities)
    table = pipeline.read(record.outputs["results_csv"]).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(table, newline="")))
    assert header[:2] == ["Id", "GeocodeRequest/Query"]  # the input's columns, as uploaded
    assert all(row[header.index("latitude")] for row in rows)


def test_an_upper_case_file_name_is_picked_up(pipeline):
    job_id = pipeline.drop(text_file(","), "FROM-EXCEL.CSV")
    record = pipeline.wait(job_id)
    assert record.status == "COMPLETED", record.error
    assert record.input_format == "csv"


def test_gzipped_utf16_input_is_accepted(pipeline):
    data = b"\xff\xfe" + text_file("\t").decode("utf-8").encode("utf-16-le")
    job_id = pipeline.drop(gzip.compress(data), "excel-export.txt.gz")
    record = pipeline.wait(job_id)
    assert record.status == "COMPLETED", record.error
    assert record.total_entities == 3


def test_rejected_file_gets_a_report_and_no_provider_job(pipeline):
    before = provider_job_count(pipeline)
    bad = b"Bing Spatial Data Services, 2.0\nId, GeocodeRequest/Query, NotAColumn\n1,Paris,x\n1,Rome,y\n"
    job_id = pipeline.drop(bad, "broken.csv")
    record = pipeline.wait(job_id)

    assert record.status == "REJECTED"
    assert record.provider_job_id is None
    assert provider_job_count(pipeline) == before
    report = json.loads(pipeline.read(record.rejection_report))
    assert record.rejection_report.startswith(
        f"s3://{pipeline.bucket}/rejected/broken.csv/{job_id}/"
    )
    messages = " ".join(issue["message"] for issue in report["report"]["errors"])
    assert "NotAColumn" in messages
    assert pipeline.execution(job_id) is None
    assert "inbox/broken.csv" in list(pipeline.objects("inbox/")), "the input is kept"


def test_duplicate_event_creates_one_provider_job(pipeline):
    data = text_file("|")
    before = provider_job_count(pipeline)
    job_id = pipeline.drop(data, "twice.pipe")
    record = pipeline.wait(job_id)
    # Deliver the same event again, as S3 may: same object version, same job.
    version = record.input.version_id
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": pipeline.bucket},
                    "object": {"key": "inbox/twice.pipe", "versionId": version},
                },
            }
        ]
    }
    result = pipeline.lambdas.invoke("SubmitJobFunction", event)
    assert json.loads(result[0])["jobs"][0]["detail"] == "duplicate delivery"
    assert provider_job_count(pipeline) == before + 1


def test_aborted_job_is_recorded_failed_with_the_provider_reason(pipeline):
    from dataflow_emulator import FaultConfig

    pipeline.emulator.set_faults(FaultConfig(abort_rate=1.0))
    try:
        job_id = pipeline.drop(text_file(","), "doomed.csv")
        record = pipeline.wait(job_id)
    finally:
        pipeline.emulator.set_faults(FaultConfig())

    assert record.status == "FAILED"
    assert record.error["type"] == "JobAbortedError"
    assert record.error["message"]
    assert pipeline.execution(job_id)["status"] == "FAILED"
    assert "Record Failure" in state_names(pipeline, job_id)
    assert job_json(pipeline, record)["status"] == "FAILED"
    assert "inbox/doomed.csv" in list(pipeline.objects("inbox/"))


def test_wrong_key_fails_the_job_with_an_authentication_error(pipeline):
    secrets = pipeline.client("secretsmanager")
    secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString="not-the-right-key")
    parameters.clear_caches()
    pipeline.lambdas.recycle()  # warm environments cache the key for minutes, as on Lambda
    try:
        job_id = pipeline.drop(text_file(","), "wrong-key.csv")
        record = pipeline.wait(job_id)
    finally:
        secrets.put_secret_value(SecretId=pipeline.secret_arn, SecretString=pipeline.key)
        parameters.clear_caches()
        pipeline.lambdas.recycle()

    assert record.status == "FAILED"
    assert record.error["type"] == "AuthenticationError"
    assert "not-the-right-key" not in json.dumps(record.to_document())


def test_transient_provider_errors_are_recovered(pipeline):
    from dataflow_emulator import FaultConfig

    pipeline.emulator.set_faults(FaultConfig(error_rate={"status": 0.3, "download": 0.3}))
    try:
        job_id = pipeline.drop(text_file(","), "flaky.csv")
        record = pipeline.wait(job_id)
    finally:
        pipeline.emulator.set_faults(FaultConfig())
    assert record.status == "COMPLETED", record.error


def _tmp(data: bytes, name: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="e2e-"))
    path = folder / name
    path.write_bytes(data)
    return path


def test_status_and_download_handlers_on_the_events_payloads(pipeline, load_event):
    """events/check_job_status_pending.json and download_results_completed.json, as the state
    machine sends them, against a real provider job."""
    job_id = pipeline.drop(text_file(","), "events-payloads.csv")
    done = pipeline.wait(job_id)
    assert done.status == "COMPLETED"
    table = pipeline.client("dynamodb")
    table.update_item(
        TableName=pipeline.table_name,
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": {"S": "PENDING"}},
    )

    status_event = load_event("check_job_status_pending")
    status_event["state"].update(job_id=job_id, provider_job_id=done.provider_job_id)
    payload, is_error, _ = pipeline.lambdas.invoke("CheckJobStatusFunction", status_event)
    result = json.loads(payload)
    assert not is_error, result
    assert (
        result["status"] == "COMPLETED"
        and result["attempt"] == status_event["state"]["attempt"] + 1
    )
    assert result["wait_seconds"] >= 0 and result["progress"]["total"] == 3

    download_event = load_event("download_results_completed")
    download_event["state"].update(job_id=job_id, provider_job_id=done.provider_job_id)
    payload, is_error, output = pipeline.lambdas.invoke("DownloadResultsFunction", download_event)
    result = json.loads(payload)
    assert not is_error, result
    assert result["status"] == "COMPLETED"
    assert set(result["outputs"]) == {"succeeded", "results_csv", "results_geojson", "job"}
    log_lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"level"')]
    assert log_lines and all(line.get("job_id") == job_id for line in log_lines)
    assert all(line.get("execution_id") == download_event["execution_id"] for line in log_lines)


def test_a_job_vanishing_at_the_provider_fails_with_its_reason(pipeline):
    from dataflow_emulator import FaultConfig

    pipeline.emulator.set_faults(FaultConfig(vanish_rate=1.0))
    try:
        job_id = pipeline.drop(text_file(","), "vanishing.csv")
        record = pipeline.wait(job_id)
    finally:
        pipeline.emulator.set_faults(FaultConfig())
    assert record.status == "FAILED"
    assert record.error["type"] == "JobNotFoundError"
