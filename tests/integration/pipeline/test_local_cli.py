"""`geocode-dataflow local run FILE --out DIR`, the command behind the README's first command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from geocode_dataflow.cli import main
from geocode_dataflow.schema import open_feed

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pipeline"


def test_local_run_of_a_seven_entity_feed_writes_both_sets_and_a_matching_job_json(
    tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(
        [
            "local",
            "run",
            str(FIXTURES / "seven-mixed.xml"),
            "--out",
            str(out),
            "--processing-seconds",
            "0.3",
        ]
    )

    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "succeeded.xml",
        "failed.xml",
        "job.json",
        "lambda-logs.jsonl",
    }
    with open_feed(out / "failed.xml") as feed:
        failed = list(feed)
    assert [e.id for e in failed] == ["a4"]
    assert (
        failed[0].fault_reason
        == "To geocode a location, you must specify at least one address field."
    )
    with open_feed(out / "succeeded.xml") as feed:
        succeeded = list(feed)
    assert sorted(e.id for e in succeeded) == ["a1", "a2", "a3", "a5", "a6", "a7"]
    job = json.loads((out / "job.json").read_text())
    assert job["status"] == "COMPLETED"
    assert (job["total_entities"], job["succeeded_entities"], job["failed_entities"]) == (7, 6, 1)
    assert (job["geocode_entities"], job["reverse_entities"]) == (4, 3)
    summary = capsys.readouterr().out
    assert "COMPLETED" in summary and "a4" in summary


def test_local_run_of_an_invalid_file_writes_the_rejection_report(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("Bing Spatial Data Services, 1.0\nId,GeocodeRequest/Query\n1,Paris\n")
    out = tmp_path / "out"

    code = main(["local", "run", str(source), "--out", str(out), "--processing-seconds", "0"])

    assert code == 1
    assert {p.name for p in out.iterdir()} == {"rejection.json", "job.json", "lambda-logs.jsonl"}
    report = json.loads((out / "rejection.json").read_text())
    assert report["status"] == "REJECTED"
    assert any("version" in e["message"].lower() for e in report["report"]["errors"])
    assert json.loads((out / "job.json").read_text())["provider_job_id"] is None
