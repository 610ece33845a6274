"""How often the submit reads the input from S3: once where it can (issue 12, item 5).

The real submit handler runs in this process against the local pipeline (moto's server, the
state machine of template.yaml, the Dataflow emulator over HTTP), with its S3 client counting
every GetObject of the input; the job then runs to the end through the pipeline. A file the
service gets as it was read (UTF-8 XML or v2.0 text) is validated and spooled for upload in one
read; a file that is gunzipped, transcoded or converted before sending is read twice.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from geocode_dataflow.client.upload import UploadBody
from geocode_dataflow.pipeline.runtime import Runtime
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers.bing_dataflow import BingDataflowJobs
from geocode_dataflow.schema import GeocodeEntity, GeocodeRequest, write_feed
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

# The handler loader and Lambda context of the unit tests (tests are not a package).
_SUPPORT = Path(__file__).resolve().parents[2] / "unit" / "pipeline" / "handler_support.py"
_spec = importlib.util.spec_from_file_location("handler_support", _SUPPORT)
handler_support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handler_support)

PLACES = ["Denver, CO", "Seattle, WA", "Boston, MA", "Austin, TX", "Chicago, IL"]
VERSION = "Bing Spatial Data Services, 2.0"
RESPONSE = "GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude,StatusCode"


def xml_feed(count: int) -> bytes:
    out = io.BytesIO()
    entities = (
        GeocodeEntity(
            id=f"x{i}", geocode_request=GeocodeRequest(culture="en-US", query=PLACES[i % 5])
        )
        for i in range(count)
    )
    write_feed(entities, out, "xml")
    return out.getvalue()


def csv_feed(count: int, *, response_columns: bool) -> bytes:
    header = "Id,GeocodeRequest/Culture,GeocodeRequest/Query"
    header += f",{RESPONSE}" if response_columns else ""
    extra = ",,," if response_columns else ""
    rows = [f'c{i},en-US,"{PLACES[i % 5]}"{extra}' for i in range(count)]
    return "\n".join([VERSION, header, *rows, ""]).encode()


def plain_table(count: int) -> bytes:
    rows = [f"{i},{PLACES[i % 5].replace(', ', ',')}" for i in range(count)]
    return "\n".join(["id,city,state", *rows, ""]).encode()


# name, bytes, S3 reads of the input by the submit, entities. Read again (not as read): a
# body gunzipped or with its BOM removed, a plain table converted; a v2.0 text file read that
# way also has its header read first, to see whether response columns must be added.
CASES = {
    "xml, gzipped body": ("big.xml", xml_feed(1500), 1, 1500),
    "xml, small body": ("small.xml", xml_feed(3), 1, 3),
    "csv with response columns": ("answered.csv", csv_feed(2000, response_columns=True), 1, 2000),
    "csv of request columns (rewritten)": ("asked.csv", csv_feed(2000, response_columns=False), 1, 2000),
    "gzip xml (gunzipped)": ("packed.xml.gz", gzip.compress(xml_feed(1500)), 2, 1500),
    "gzip csv (gunzipped)": ("packed.csv.gz", gzip.compress(csv_feed(2000, response_columns=True)), 3, 2000),
    "csv with a BOM (removed)": ("bom.csv", b"\xef\xbb\xbf" + csv_feed(5, response_columns=True), 3, 5),
    "plain table (converted)": ("table.csv", plain_table(1200), 2, 1200),
}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline():
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
    )
    with LocalPipeline(options) as local:
        # No S3 event: the test runs the submit handler itself, to count its reads.
        local.client("s3").put_bucket_notification_configuration(
            Bucket=local.bucket, NotificationConfiguration={}
        )
        yield local


class RecordingClient:
    """The real Dataflow client; what each create_job was given is kept."""

    def __init__(self, client) -> None:
        self._client = client
        self.sent: list[object] = []

    def create_job(self, data, input_format, **kwargs):
        if isinstance(data, UploadBody):
            stored = data.reader().read()
            self.sent.append(gzip.decompress(stored) if data.compressed else stored)
        else:
            self.sent.append(type(data).__name__)
        return self._client.create_job(data, input_format, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def submit(pipeline, load_event, name: str, data: bytes):
    """Put ``data`` under the input prefix and run the submit handler on its event; returns the
    handler's outcome, the (key, version) of every GetObject it made, and what it sent."""
    key = f"{pipeline.input_prefix}reads-once/{name}"
    s3 = pipeline.client("s3")
    version = s3.put_object(Bucket=pipeline.bucket, Key=key, Body=data)["VersionId"]
    gets: list[tuple[str, str | None]] = []

    def count(params, **_):
        gets.append((params["Key"], params.get("VersionId")))

    s3.meta.events.register("provide-client-params.s3.GetObject", count)
    runtime = Runtime(config=pipeline.pipeline_config())
    runtime.objects = ObjectStore(s3, pipeline.bucket)
    client = RecordingClient(runtime.client())
    runtime.provider = lambda: BingDataflowJobs(client, runtime.objects)  # type: ignore[method-assign]
    event = load_event("submit_job_s3_put")
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = pipeline.bucket
    record["object"].update(key=quote_plus(key), versionId=version, size=len(data))
    lambda_handler = handler_support.handler("submit_job")
    result = lambda_handler(event, handler_support.Context(), runtime=runtime)
    return result["jobs"][0], [g for g in gets if g[0] == key], client.sent


@pytest.mark.parametrize("case", list(CASES))
def test_submit_reads_the_input_once_where_it_is_sent_as_read(pipeline, load_event, case):
    name, data, reads, entities = CASES[case]

    outcome, gets, sent = submit(pipeline, load_event, name, data)

    assert outcome["status"] == "PENDING", outcome
    assert len(gets) == reads, gets
    assert len({version for _, version in gets}) == 1  # always the version the event named
    if reads == 1 and case != "csv of request columns (rewritten)":
        assert sent == [data]  # the body is the file, byte for byte, from the validating read
    record = pipeline.wait(outcome["job_id"])
    assert record.status == "COMPLETED", record.error
    assert record.total_entities == entities
    assert record.succeeded_entities == entities


def test_a_rejected_file_is_read_once_and_nothing_is_sent(pipeline, load_event):
    before = len(pipeline.emulator.state.jobs)
    duplicate_ids = csv_feed(3000, response_columns=True).replace(b"\nc1,", b"\nc0,")

    outcome, gets, sent = submit(pipeline, load_event, "duplicates.csv", duplicate_ids)

    assert outcome["status"] == "REJECTED"
    assert len(gets) == 1 and sent == []
    assert len(pipeline.emulator.state.jobs) == before
