"""The backup functions' handlers on the events of events/, under moto, with an in-memory
Dataflow client (no network): what each writes, and that a repeated event does nothing twice."""

from __future__ import annotations

import json

import boto3
import pytest
from geocode_dataflow.client import DataflowJob
from geocode_dataflow.datasources import DataSourceFormatError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.backup import BackupConfig, DataSourceRef, backup_job_id
from geocode_dataflow.pipeline.backup_runtime import BackupRuntime
from geocode_dataflow.pipeline.config import ConfigurationError
from geocode_dataflow.pipeline.jobs import InputObject, JobRecord
from handler_support import Context, handler
from local_pipeline import template as tpl
from moto import mock_aws

BUCKET, TABLE = "backups-bucket", "backups-jobs"
STATUS_URL = "https://spatial.virtualearth.net/REST/v1/dataflows/DataSourceDownload/MyStores"
SOURCES = "a92dcfac8a0894bc4921ad5c74022623/MyStores, a92dcfac8a0894bc4921ad5c74022623/Areas@v1"


class FakeDownloads:
    """The Data Source Download calls the functions make, answered from memory."""

    def __init__(self, status: str = "Pending", error_log: bytes = b"") -> None:
        self.status, self.error_log, self.created = status, error_log, []
        self.exports: list[bytes] = []  # what each download returns, in turn

    def create_datasource_download(self, access_id, name, *, job_id=None):
        self.created.append((access_id, name, job_id))
        return DataflowJob(
            id="8ccf2a5b428d423c92759150dcddc338", status="Pending", self_url=STATUS_URL
        )

    def get_datasource_download(self, url):
        outputs = {"failed": f"{url}/output/failed"} if self.status == "Aborted" else {}
        return DataflowJob(id="8ccf", status=self.status, self_url=url, output_urls=outputs)

    def download_datasource(self, job, sink):
        return sink.write(self.exports.pop(0))

    def iter_results(self, job, which):
        assert which == "failed"
        yield self.error_log


class Recorder:
    """A notifier that keeps the records it is told ended."""

    def __init__(self) -> None:
        self.ended: list[JobRecord] = []

    def job_ended(self, record: JobRecord) -> None:
        self.ended.append(record)


class FakeRuntime(BackupRuntime):
    def __init__(self, config: BackupConfig, downloads: FakeDownloads) -> None:
        super().__init__(config=config)
        self.downloads = downloads
        self.notifier = Recorder()  # type: ignore[assignment]

    def client(self):  # type: ignore[override]
        return self.downloads


@pytest.fixture
def aws():
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(
            TableName=TABLE, **tpl.table_schema(tpl.load_template())
        )
        yield


def config(**env: str) -> BackupConfig:
    return BackupConfig.from_env(
        {
            "JOBS_TABLE_NAME": TABLE,
            "BUCKET_NAME": BUCKET,
            "PROVIDER": "AmazonLocation",
            "DATAFLOW_ENDPOINT": "https://spatial.virtualearth.net/REST/v1/Dataflows",
            "DATASOURCE_BACKUP_SOURCES": SOURCES,
            **env,
        }
    )


def test_start_records_the_backup_then_creates_the_download_and_returns_the_poll_state(
    aws, load_event
):
    event = load_event("start_datasource_backup_execution")
    downloads = FakeDownloads()
    runtime = FakeRuntime(config(), downloads)

    state = handler("start_datasource_backup")(event, Context(), runtime=runtime)

    assert downloads.created == [("a92dcfac8a0894bc4921ad5c74022623", "MyStores", None)]
    assert state["provider_job_id"] == STATUS_URL and state["attempt"] == 0
    assert state["data_source"] == event["state"]["data_source"]
    record = runtime.store.get(event["state"]["job_id"])
    assert (record.status, record.kind) == (jobs.PENDING, jobs.DATASOURCE_BACKUP)
    assert record.provider_job_id == "8ccf2a5b428d423c92759150dcddc338"
    assert record.input.key == f"datasources/MyStores/{record.job_id}/"
    # A retried start finds its record and creates the download again (that costs nothing).
    handler("start_datasource_backup")(event, Context(), runtime=runtime)
    assert len(downloads.created) == 2


def test_record_backup_failure_keeps_the_error_log_and_the_message(aws, load_event):
    event = load_event("store_datasource_backup_aborted")
    runtime = FakeRuntime(config(), FakeDownloads("Aborted", b"17,The entity could not be read\n"))
    now = jobs.iso(jobs.utc_now())
    folder = f"datasources/MyStores/{event['state']['job_id']}/"
    runtime.store.create(
        JobRecord(
            job_id=event["state"]["job_id"],
            status=jobs.PENDING,
            input=InputObject(bucket=BUCKET, key=folder),
            created_at=now,
            updated_at=now,
            kind=jobs.DATASOURCE_BACKUP,
            data_source=event["state"]["data_source"],
        )
    )

    result = handler("store_datasource_backup")(event, Context(), runtime=runtime)

    assert result["status"] == jobs.FAILED
    record = runtime.store.get(event["state"]["job_id"])
    assert record.error == {
        "type": "JobAbortedError",
        "message": "The data source download failed.",
    }
    log = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{folder}error-log.txt")["Body"]
    assert log.read() == b"17,The entity could not be read\n"
    assert record.outputs["error_log"] == f"s3://{BUCKET}/{folder}error-log.txt"
    # The EventBridge backstop, after the state machine recorded it: nothing changes.
    again = handler("store_datasource_backup")(event, Context(), runtime=runtime)
    assert again["status"] == jobs.FAILED
    assert runtime.store.get(record.job_id).updated_at == record.updated_at


def _export(*names: str) -> bytes:
    rows = "".join(f"<Shop><EntityID>{n}</EntityID></Shop>" for n in names)
    return (
        '<MainRoot><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="S">'
        '<xs:complexType><xs:choice><xs:element name="Shop"><xs:complexType><xs:sequence>'
        '<xs:element name="EntityID" type="xs:string"/></xs:sequence></xs:complexType>'
        f"</xs:element></xs:choice></xs:complexType></xs:element></xs:schema>{rows}</MainRoot>"
    ).encode()


def _pending_backup(runtime, job_id: str) -> dict:
    now = jobs.iso(jobs.utc_now())
    source = {"access_id": "a92dcfac8a0894bc4921ad5c74022623", "name": "MyStores"}
    runtime.store.create(
        JobRecord(
            job_id=job_id,
            status=jobs.PENDING,
            input=InputObject(bucket=BUCKET, key=f"datasources/MyStores/{job_id}/"),
            created_at=now,
            updated_at=now,
            kind=jobs.DATASOURCE_BACKUP,
            data_source=source,
        )
    )
    return {"state": {"job_id": job_id, "data_source": source, "provider_job_id": STATUS_URL}}


def test_store_keeps_the_newest_backups_and_records_an_unchanged_one_without_a_copy(aws):
    downloads = FakeDownloads("Completed")
    downloads.exports = [_export("1"), _export("1", "2"), _export("1", "2"), _export("3")]
    runtime = FakeRuntime(config(DATASOURCE_BACKUPS_KEPT="2"), downloads)
    store = handler("store_datasource_backup")
    results = [
        store(_pending_backup(runtime, f"b{i}"), Context(), runtime=runtime) for i in range(4)
    ]

    assert [r["unchanged"] for r in results] == [False, False, True, False]
    assert runtime.store.get("b2").unchanged_since == "b1"
    history = runtime.objects.get_json("datasources/MyStores/backups.json")
    assert [b["job_id"] for b in history["backups"]] == ["b1", "b3"]  # b0 pruned, b2 no copy
    keys = runtime.objects.list_keys("datasources/MyStores/")
    kept = {k.split("/")[2] for k in keys if k.count("/") == 3}
    assert kept == {"b1", "b3"}
    assert runtime.store.get("b3").total_entities == 1


def test_schedule_starts_each_listed_backup_once_per_event(aws, load_event):
    sfn = boto3.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/backups"
    machine = sfn.create_state_machine(
        name="stack-datasource-backups",
        definition=json.dumps(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
        ),
        roleArn=role,
    )["stateMachineArn"]
    runtime = FakeRuntime(config(DATASOURCE_BACKUP_STATE_MACHINE_ARN=machine), FakeDownloads())
    event = load_event("schedule_datasource_backups_schedule")

    first = handler("schedule_datasource_backups")(event, Context(), runtime=runtime)
    second = handler("schedule_datasource_backups")(event, Context(), runtime=runtime)

    assert first == second  # a redelivered event starts nothing twice
    sources = [DataSourceRef.parse(entry) for entry in SOURCES.split(",")]
    assert first["started"] == [
        backup_job_id(s.name, f"{event['id']}/{s.access_id}") for s in sources
    ]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(first["started"])
    inputs = [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in executions
    ]
    assert {"access_id": sources[1].access_id, "name": "Areas", "version": "v1"} in [
        i["data_source"] for i in inputs
    ]


def test_backup_configuration_refuses_a_bad_source_list_and_a_count_below_one():
    with pytest.raises(ConfigurationError, match="access id and a name"):
        config(DATASOURCE_BACKUP_SOURCES="only-a-name")
    with pytest.raises(ConfigurationError, match="at least 1"):
        config(DATASOURCE_BACKUPS_KEPT="0")


def test_a_download_the_converter_refuses_fails_the_backup_and_keeps_the_xml(aws):
    broken = _export("1").replace(b"</MainRoot>", b"<Unknown/></MainRoot>")
    downloads = FakeDownloads("Completed")
    downloads.exports = [broken]
    runtime = FakeRuntime(config(), downloads)
    event = _pending_backup(runtime, "bad")

    with pytest.raises(DataSourceFormatError, match="not the schema's entity type"):
        handler("store_datasource_backup")(event, Context(), runtime=runtime)
    error = {"Error": "DataSourceFormatError", "Cause": "element 'Unknown' is not ..."}
    failed = {"state": {**event["state"], "error": error}, "fail": True}
    handler("store_datasource_backup")(failed, Context(), runtime=runtime)

    record = runtime.store.get("bad")
    assert record.status == jobs.FAILED and record.error["type"] == "DataSourceFormatError"
    key = runtime.objects.key_of(record.outputs["datasource_xml"])
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == broken


def test_a_backup_cancelled_while_it_is_stored_keeps_nothing_and_deletes_no_older_one(aws):
    downloads = FakeDownloads("Completed")
    runtime = FakeRuntime(config(DATASOURCE_BACKUPS_KEPT="1"), downloads)
    store = handler("store_datasource_backup")
    downloads.exports = [_export("1")]
    store(_pending_backup(runtime, "b0"), Context(), runtime=runtime)
    event = _pending_backup(runtime, "b1")

    def cancelled_meanwhile(job, sink):
        assert runtime.store.update("b1", status=jobs.CANCELLED)  # `stack cancel`, now
        return sink.write(_export("2"))

    downloads.download_datasource = cancelled_meanwhile
    result = store(event, Context(), runtime=runtime)

    assert result["status"] == jobs.CANCELLED
    history = runtime.objects.get_json("datasources/MyStores/backups.json")
    assert [b["job_id"] for b in history["backups"]] == ["b0"]  # kept: keep=1 counts b0 only
    left = list(runtime.objects.list_keys("datasources/MyStores/b1/"))
    assert left == ["datasources/MyStores/b1/job.json"]
    assert runtime.objects.get_json(left[0])["status"] == jobs.CANCELLED
    assert len(list(runtime.objects.list_keys("datasources/MyStores/b0/"))) == 5
    assert [r.job_id for r in runtime.notifier.ended] == ["b0"]  # b1: its cancel announces it


def test_a_backups_job_json_goes_in_its_own_folder_whoever_writes_it(aws):
    from geocode_dataflow.pipeline.download import results_folder

    runtime = FakeRuntime(config(), FakeDownloads())
    _pending_backup(runtime, "b7")
    record = runtime.store.get("b7")
    assert results_folder(record, runtime.config.pipeline) == "datasources/MyStores/b7/"


def test_every_backup_that_ends_is_announced_once_as_a_backup(aws, load_event):
    downloads = FakeDownloads("Completed")
    downloads.exports = [_export("1"), _export("1")]
    runtime = FakeRuntime(config(), downloads)
    store = handler("store_datasource_backup")
    store(_pending_backup(runtime, "n0"), Context(), runtime=runtime)  # a copy kept
    store(_pending_backup(runtime, "n1"), Context(), runtime=runtime)  # unchanged
    store(_pending_backup(runtime, "n1"), Context(), runtime=runtime)  # a retry: nothing new
    downloads.status = "Aborted"
    failing = _pending_backup(runtime, "n2")["state"]
    error = {"Error": "JobAbortedError", "Cause": "The data source download failed."}
    store({"fail": True, "state": {**failing, "error": error}}, Context(), runtime=runtime)

    ended = [(r.job_id, r.status, r.kind) for r in runtime.notifier.ended]
    assert ended == [
        ("n0", jobs.COMPLETED, jobs.DATASOURCE_BACKUP),
        ("n1", jobs.COMPLETED, jobs.DATASOURCE_BACKUP),
        ("n2", jobs.FAILED, jobs.DATASOURCE_BACKUP),
    ]
    assert runtime.notifier.ended[1].unchanged_since == "n0"
