"""Data source backups end to end: the backup state machine of template.yaml executed by moto,
the real handlers, the Dataflow emulator over HTTP (documented quirks on), S3 and DynamoDB.

One LocalPipeline serves the module, with a backup schedule configured; each test backs up
its own data source (or the same one twice) and asserts on the objects, the record and the
execution history.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dataflow_emulator import EmulatorConfig, EmulatorServer
from dataflow_emulator.datasources import (
    every_type_data_source,
    generated_data_source,
    sample_data_source,
)
from geocode_dataflow.pipeline.backup import DataSourceRef, start_backup
from local_pipeline import template as tpl
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration

KEY = "backup-key-0123456789"  # the secret's master key, accepted by the emulator
GUARD_MASTER = "the-real-master-key-98765"  # GuardedSource's master key: not in the secret
ABORT_MESSAGE = "The data source download failed: the data source is being deleted."
ERROR_LOG = b"EntityID,Error\n17,The entity could not be read.\n"
EVERY = every_type_data_source()
SCHEDULED = sample_data_source()
GUARDED = every_type_data_source(name="GuardedSource", master_key=GUARD_MASTER)
FAILING = every_type_data_source(
    name="FailingSource", abort_message=ABORT_MESSAGE, error_log=ERROR_LOG
)
UNCHANGED = every_type_data_source(name="UnchangingSource")
LARGE = generated_data_source(entities=200_000)
SOURCES = [EVERY, SCHEDULED, GUARDED, FAILING, UNCHANGED, LARGE]


@pytest.fixture(scope="module")
def pipeline():
    config = EmulatorConfig(
        keys={KEY, GUARD_MASTER},
        processing_seconds=0.2,
        quirks={"wrong-xsi-namespace"},  # the documented https:// xs namespace (Q16)
        data_sources=SOURCES,
    )
    with EmulatorServer(config) as emulator:
        options = LocalPipelineOptions(
            key=KEY,
            endpoint=emulator.base_url,
            initial_wait_seconds=0,
            min_wait_seconds=0,
            max_wait_seconds=0,
            parameter_overrides={
                "BackupSchedule": "rate(1 day)",
                "BackupDataSources": f"{SCHEDULED.access_id}/{SCHEDULED.name}",
            },
        )
        with LocalPipeline(options) as stack:
            yield stack


def backup(pipeline, source, version=None, timeout=60.0):
    ref = DataSourceRef(source.access_id, source.name, version)
    job_id = start_backup(pipeline.client("stepfunctions"), pipeline.backup_state_machine_arn, ref)
    return pipeline.wait(job_id, timeout=timeout)


def folder_keys(pipeline, record):
    return sorted(key.rsplit("/", 1)[1] for key in pipeline.objects(record.input.key))


def assert_no_key_anywhere(pipeline, job_id, *keys):
    history = json.dumps(pipeline.history(job_id), default=str)
    logs = "".join(i.output for i in pipeline.lambdas.invocations)
    stored = "".join(pipeline.read(k).decode("utf-8", "replace") for k in pipeline.objects())
    record = json.dumps(pipeline.record(job_id).to_document(), default=str)
    for key in keys:
        for where, text in (
            ("history", history),
            ("logs", logs),
            ("S3", stored),
            ("record", record),
        ):
            assert key not in text, f"a key is in the {where}"


def test_backup_keeps_the_xml_and_writes_typed_csv_geojson_and_schema(pipeline):
    record = backup(pipeline, EVERY)
    assert record.status == "COMPLETED", record.error
    assert record.kind == "datasource-backup"
    assert record.data_source == {"access_id": EVERY.access_id, "name": EVERY.name}
    assert record.input.key == f"datasources/{EVERY.name}/{record.job_id}/"
    assert folder_keys(pipeline, record) == [
        "datasource.xml", "entities.csv", "entities.geojson", "job.json", "schema.json"
    ]  # fmt: skip
    # The provider's XML byte for byte (the documented https:// xs namespace included).
    expected = b"".join(EVERY.export_chunks(wrong_xs_namespace=True))
    assert pipeline.read(record.outputs["datasource_xml"]) == expected
    rows = list(
        csv.reader(io.StringIO(pipeline.read(record.outputs["entities_csv"]).decode("utf-8-sig")))
    )
    assert rows[0] == [name for name, _ in EVERY.properties]
    assert rows[1][4:8] == ["9007199254740993", "4.5", "true", "2011-11-17T12:50:08.8179772-08:00"]
    assert rows[3][6] == "true" and rows[4][4:] == [""] * 5
    collection = json.loads(pipeline.read(record.outputs["entities_geojson"]))
    assert [f["id"] for f in collection["features"]] == ["001", "002", "003", "004"]
    assert collection["features"][1]["geometry"]["coordinates"] == [139.767125, 35.681236]
    assert collection["features"][2]["geometry"] is None
    schema = json.loads(pipeline.read(record.outputs["schema"]))
    assert schema["entity_type"] == "Landmark" and schema["primary_key"] == ["EntityID"]
    assert [c["edm_type"] for c in schema["columns"]][4:8] == [
        "Edm.Int64", "Edm.Double", "Edm.Boolean", "Edm.DateTime"
    ]  # fmt: skip
    assert record.total_entities == 4 and record.content_digest
    job = json.loads(pipeline.read(record.outputs["job"]))
    assert job["status"] == "COMPLETED" and job["job_id"] == record.job_id
    history = json.loads(pipeline.read(f"datasources/{EVERY.name}/backups.json"))
    assert [b["job_id"] for b in history["backups"]] == [record.job_id]
    assert pipeline.execution(record.job_id)["status"] == "SUCCEEDED"
    assert_no_key_anywhere(pipeline, record.job_id, KEY)


def test_backup_geojson_reads_in_geopandas_with_every_entity(pipeline, tmp_path):
    geopandas = pytest.importorskip("geopandas")
    record = backup(pipeline, EVERY)
    path = tmp_path / "entities.geojson"
    path.write_bytes(pipeline.read(record.outputs["entities_geojson"]))
    frame = geopandas.read_file(path)
    assert len(frame) == len(EVERY.rows)
    assert int(frame.geometry.isna().sum()) == 1
    assert frame.crs.to_epsg() == 4326


def test_unchanged_second_backup_is_recorded_as_such_and_keeps_no_copy(pipeline):
    first = backup(pipeline, UNCHANGED)
    second = backup(pipeline, UNCHANGED)
    assert (first.status, second.status) == ("COMPLETED", "COMPLETED")
    assert first.unchanged_since is None
    assert second.unchanged_since == first.job_id
    assert second.content_digest == first.content_digest
    assert second.outputs == first.outputs  # the files of the backup it equals
    assert folder_keys(pipeline, second) == []
    history = json.loads(pipeline.read(f"datasources/{UNCHANGED.name}/backups.json"))
    assert [b["job_id"] for b in history["backups"]] == [first.job_id]
    assert history["backups"][0]["confirmed_at"] >= second.created_at


def test_aborted_download_keeps_the_error_log_and_ends_failed_with_its_message(pipeline):
    record = backup(pipeline, FAILING)
    assert record.status == "FAILED"
    assert record.error == {"type": "JobAbortedError", "message": ABORT_MESSAGE}
    assert pipeline.read(record.outputs["error_log"]) == ERROR_LOG
    assert folder_keys(pipeline, record) == ["error-log.txt", "job.json"]
    assert json.loads(pipeline.read(record.outputs["job"]))["status"] == "FAILED"
    assert pipeline.execution(record.job_id)["status"] == "FAILED"


def test_wrong_master_key_fails_the_backup_and_no_key_is_written_anywhere(pipeline):
    record = backup(pipeline, GUARDED)
    assert record.status == "FAILED"
    assert record.error["type"] == "AuthenticationError"
    assert "not the master key" in record.error["message"]
    assert record.provider_job_id is None
    assert_no_key_anywhere(pipeline, record.job_id, KEY, GUARD_MASTER)


def test_version_parameter_downloads_that_version_and_an_unknown_one_fails(pipeline):
    version = SCHEDULED.versions[0]
    record = backup(pipeline, SCHEDULED, version=version)
    assert record.status == "COMPLETED", record.error
    assert record.data_source["version"] == version
    missing = backup(pipeline, SCHEDULED, version="0" * 32)
    assert missing.status == "FAILED"
    assert "has no version" in missing.error["message"]


def test_no_schedule_resource_exists_with_the_template_defaults():
    template = tpl.load_template()
    defaults = tpl.parameter_defaults(template)
    assert defaults["BackupSchedule"] == "" and defaults["BackupDataSources"] == ""
    assert template["Resources"]["ScheduleDataSourceBackupsFunction"]["Condition"] == (
        "HasBackupSchedule"
    )
    assert template["Conditions"]["HasBackupSchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "BackupSchedule"}, ""]}]
    }


def test_scheduled_trigger_backs_up_the_listed_data_sources(pipeline):
    payload, failed, _ = pipeline.fire_schedule("ScheduleDataSourceBackupsFunction")
    assert not failed, payload
    (job_id,) = json.loads(payload)["started"]
    record = pipeline.wait(job_id, timeout=60)
    assert record.status == "COMPLETED", record.error
    assert record.data_source["name"] == SCHEDULED.name
    assert record.total_entities == len(SCHEDULED.rows)


@pytest.mark.slow
def test_a_200000_entity_data_source_is_backed_up_and_converted_in_constant_memory(
    pipeline, tmp_path
):
    record = backup(pipeline, LARGE, timeout=280)
    assert record.status == "COMPLETED", record.error
    assert record.total_entities == 200_000
    s3 = pipeline.client("s3")
    lines = features = 0
    body = s3.get_object(Bucket=pipeline.bucket, Key=record.input.key + "entities.csv")["Body"]
    for line in body.iter_lines():
        lines += 1
    body = s3.get_object(Bucket=pipeline.bucket, Key=record.input.key + "entities.geojson")["Body"]
    for line in body.iter_lines():
        features += line.startswith(b'{"type": "Feature"')
    assert (lines, features) == (200_001, 200_000)
    # The converter on the stored XML, in a process of its own: its peak memory barely moves
    # above what the interpreter and the imports take, whatever the size of the download.
    xml = tmp_path / "datasource.xml"
    xml.write_bytes(pipeline.read(record.outputs["datasource_xml"]))
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's figure across exec.
    script = textwrap.dedent(
        """
        import json, re, sys
        from pathlib import Path
        from geocode_dataflow.datasources import convert_to_folder
        def peak():
            status = Path("/proc/self/status").read_text()
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
        before = peak()
        with open(sys.argv[1], "rb") as data:
            result = convert_to_folder(data, Path(sys.argv[2]))
        after = peak()
        print(json.dumps({"entities": result.entities, "peak_kib": after, "grew_kib": after - before}))
        """
    )
    out = tmp_path / "out"
    out.mkdir()
    root = Path(__file__).resolve().parents[3]
    child = subprocess.run(
        [sys.executable, "-c", script, str(xml), str(out)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{root}/layers/shared", "PATH": "/usr/bin:/bin"},
    )
    measured = json.loads(child.stdout)
    size_mib = xml.stat().st_size / 2**20
    print(
        f"\n200,000 entities: XML {size_mib:.0f} MiB; converter process peak "
        f"{measured['peak_kib'] / 1024:.0f} MiB, {measured['grew_kib'] / 1024:.1f} MiB over its imports"
    )
    assert measured["entities"] == 200_000
    # An element tree of this XML would take several times its size (over 1.4 million
    # elements); the stream stays within what the interpreter and its imports take.
    assert size_mib > 32
    assert measured["grew_kib"] < 24 * 1024
    assert measured["peak_kib"] < 96 * 1024
