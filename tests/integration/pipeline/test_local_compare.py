"""`geocode-dataflow local run FILE --provider P --compare-with Q`: the same file through two
local pipelines, one per provider, then compared."""

from __future__ import annotations

import csv
import json

import pytest
from geocode_dataflow.cli import main

pytestmark = pytest.mark.integration

FEED = """\
Bing Spatial Data Services, 2.0
Id,GeocodeRequest/Culture,GeocodeRequest/Query,GeocodeRequest/Address/AddressLine,GeocodeRequest/Address/Locality,GeocodeRequest/Address/AdminDistrict,ReverseGeocodeRequest/Location/Latitude,ReverseGeocodeRequest/Location/Longitude,GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude,GeocodeResponse/EntityType,GeocodeResponse/Confidence,GeocodeResponse/MatchCodes,StatusCode,FaultReason
c1,en-US,Denver CO,,,,,,,,,,,,
c2,en-US,,1 Microsoft Way,Redmond,WA,,,,,,,,,
c3,en-US,,,,,47.64054,-122.12934,,,,,,,
c4,en-US,,,,,,,,,,,,,
"""


def test_local_run_compare_with_writes_both_job_folders_and_the_comparison(tmp_path, capsys):
    source = tmp_path / "four.csv"
    source.write_text(FEED, encoding="utf-8")
    out = tmp_path / "out"

    code = main(
        ["local", "run", str(source), "--out", str(out), "--timeout", "180"]
        + ["--provider", "bing-dataflow", "--compare-with", "amazon-location"]
        + ["--processing-seconds", "0.3", "--requests-per-second", "50"]
    )

    assert code == 0
    assert {p.name for p in out.iterdir()} == {"bing-dataflow", "amazon-location", "compare.csv"}
    labels = []
    for provider in ("bing-dataflow", "amazon-location"):
        folder = out / provider
        assert {"succeeded.csv", "failed.csv", "job.json"} <= {p.name for p in folder.iterdir()}
        job = json.loads((folder / "job.json").read_text())
        assert (job["status"], job["succeeded_entities"], job["failed_entities"]) == (
            "COMPLETED",
            3,
            1,
        )
        labels.append(job.get("provider") or provider)  # how compare names each side
    with open(out / "compare.csv", encoding="utf-8", newline="") as report:
        rows = list(csv.DictReader(report))
    assert [row["id"] for row in rows] == ["c1", "c2", "c3", "c4"]
    assert [(row["status_a"], row["status_b"]) for row in rows[:3]] == [("matched", "matched")] * 3
    assert all(row["distance_m"] for row in rows[:3])
    assert (rows[3]["status_a"], rows[3]["status_b"]) == ("failed", "failed")
    assert "at least one address field" in rows[3]["fault_reason_b"]
    summary = capsys.readouterr().out
    assert f"compare A={labels[0]} with B={labels[1]}: 4 entities" in summary
    assert "matched in both  3 (A only 0, B only 0; failed in either 1)" in summary
    assert "within           100 m" in summary
