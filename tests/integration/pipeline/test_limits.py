"""Per-deployment limits, each on its own local pipeline (moto's state is per process: one
pipeline at a time)."""

from __future__ import annotations

import json

import pytest
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

pytestmark = pytest.mark.integration


def text_file(rows: list[list[str]]) -> bytes:
    lines = ["Bing Spatial Data Services, 2.0", "Id, GeocodeRequest/Culture, GeocodeRequest/Query"]
    return ("\n".join(lines + [",".join(r) for r in rows]) + "\n").encode("utf-8")


def test_a_file_over_the_configured_size_limit_is_rejected_before_any_provider_call():
    rows = [[f"big{i}", "en-US", f"{i} Main Street Springfield IL 62701"] for i in range(12_000)]
    data = text_file(rows)
    assert len(data) > 512 * 1024
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=0,
        max_wait_seconds=0,
        max_file_mb=0.5,
    )
    with LocalPipeline(options) as small:
        record = small.wait(small.drop(data, "too-big.csv"))
        assert record.status == "REJECTED"
        assert len(small.emulator.state.jobs) == 0
        report = json.loads(small.read(record.rejection_report))
        assert report["report"]["errors"][0]["code"] == "too-large"


def test_a_file_over_the_per_job_limit_runs_as_parts_and_comes_back_as_one(tmp_path):
    """5,000 entities, 1,000 per provider job, 2 jobs in flight: five Bing jobs through the
    slots, merged into one succeeded and one failed set and one table, in input order."""
    places = ["Denver CO", "Boise ID", "Portland OR", "Austin TX", "Reno NV"]
    rows = [
        [f"row{i:05d}", "en-US", "" if i % 250 == 7 else places[i % len(places)]]
        for i in range(5000)
    ]
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=1,
        max_wait_seconds=1,
        max_entities=1000,
        parameter_overrides={"MaxJobsInFlight": 2},
    )
    with LocalPipeline(options) as local:
        record = local.wait(local.drop(text_file(rows), "big.csv"), timeout=600)

        assert record.status == "COMPLETED", record.error
        assert len(record.parts) == 5
        assert len(local.emulator.state.jobs) == 5
        assert local.emulator.state.max_concurrent_pending <= 2
        parts = [local.record(child) for child in record.parts]
        assert [p.total_entities for p in parts] == [1000] * 5
        assert all(p.status == "COMPLETED" and p.parent_job_id == record.job_id for p in parts)
        failed_ids = {r[0] for r in rows if not r[2]}
        assert (record.succeeded_entities, record.failed_entities) == (
            5000 - len(failed_ids),
            len(failed_ids),
        )
        succeeded = _ids(local.read(record.outputs["succeeded"]))
        failed = _ids(local.read(record.outputs["failed"]))
        assert succeeded == [r[0] for r in rows if r[2]]  # input order, across the parts
        assert failed == [r[0] for r in rows if not r[2]]
        table = local.read(record.outputs["results_csv"]).decode("utf-8-sig").splitlines()
        assert [line.split(",", 1)[0] for line in table[1:]] == [r[0] for r in rows]
        assert record.summary["rows"] == 5000
        # Results of the parts stay in work/; the parent's folder has the merged ones.
        assert all(uri.split("/")[3] == "results" for uri in record.outputs.values())


def _ids(data: bytes) -> list[str]:
    lines = data.decode("utf-8").splitlines()[2:]
    return [line.split(",", 1)[0] for line in lines if line]


def test_a_plain_table_over_the_per_job_limit_runs_as_parts_and_a_bad_sidecar_is_rejected():
    lines = ["Name,City,State,Zip"] + [
        f"Store {i},{city},{state},{zip_}"
        for i, (city, state, zip_) in enumerate(
            [("Denver", "CO", "80202"), ("Boston", "MA", "02108"), ("Boise", "ID", "83702")] * 900
        )
    ]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")
    options = LocalPipelineOptions(
        emulator_processing_seconds=0,
        initial_wait_seconds=0,
        min_wait_seconds=1,
        max_wait_seconds=1,
        max_entities=1000,
    )
    with LocalPipeline(options) as local:
        record = local.wait(local.drop(data, "stores.csv"), timeout=600)
        assert record.status == "COMPLETED", record.error
        assert record.input_format == "table" and len(record.parts) == 3
        table = local.read(record.outputs["results_csv"]).decode("utf-8-sig").splitlines()
        assert table[0].startswith("Name,City,State,Zip,latitude,longitude")
        assert [row.split(",")[0] for row in table[1:]] == [f"Store {i}" for i in range(2700)]
        assert table[2].split(",")[3] == "02108"
        assert record.summary["rows"] == 2700

        s3 = local.client("s3")
        s3.put_object(Bucket=local.bucket, Key="inbox/bad.csv.mapping.json", Body=b"{not json")
        rejected = local.wait(local.drop(b"Name,Addr\r\nA,1 Main St\r\n", "bad.csv"))
        assert rejected.status == "REJECTED"
        assert "bad.csv.mapping.json" in rejected.error["message"]
