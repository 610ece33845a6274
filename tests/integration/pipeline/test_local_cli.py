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
    names = {p.name for p in out.iterdir()}
    assert names == {
        "succeeded.xml",
        "failed.xml",
        "results.csv",
        "results.geojson",
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
    assert "COMPLETED" in summary and "failed           1" in summary
    assert "failed.xml:" not in summary  # every entity only with -v; all are in results.csv
    table = (out / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",", 1)[0] for line in table[1:]] == [f"a{i}" for i in range(1, 8)]


def test_local_run_of_an_invalid_file_writes_the_rejection_report(tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("Bing Spatial Data Services, 3.0\nId,GeocodeRequest/Query\n1,Paris\n")
    out = tmp_path / "out"

    code = main(["local", "run", str(source), "--out", str(out), "--processing-seconds", "0"])

    assert code == 1
    assert {p.name for p in out.iterdir()} == {"rejection.json", "job.json", "lambda-logs.jsonl"}
    report = json.loads((out / "rejection.json").read_text())
    assert report["status"] == "REJECTED"
    assert any("version" in e["message"].lower() for e in report["report"]["errors"])
    assert json.loads((out / "job.json").read_text())["provider_job_id"] is None


class Head:
    """stdout read by `head -3`: three lines, then the reader is gone."""

    def __init__(self, lines: int = 3) -> None:
        self.kept: list[str] = []
        self._left = lines

    def write(self, text: str) -> int:
        for line in text.splitlines(keepends=True):
            if self._left <= 0:
                raise BrokenPipeError(32, "Broken pipe")
            self.kept.append(line)
            self._left -= line.endswith("\n")
        return len(text)

    def flush(self) -> None:
        if self._left <= 0:
            raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


def test_local_run_into_head_exits_0_when_the_job_completed(tmp_path, monkeypatch, capsys):
    head = Head()
    monkeypatch.setattr("sys.stdout", head)
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
    assert "".join(head.kept).splitlines()[1].endswith(": COMPLETED")
    assert "error" not in capsys.readouterr().err
    assert (out / "succeeded.xml").is_file()


def test_local_run_of_a_file_with_several_errors_lists_them_all(tmp_path, capsys):
    source = tmp_path / "three-errors.csv"
    source.write_text(
        "Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n"
        '1,Paris\n1,Rome\n,Berlin\n2,"unterminated\n'
    )

    code = main(["local", "run", str(source), "--out", str(tmp_path / "out")])

    assert code == 1
    summary = capsys.readouterr().out
    assert "  3 file-level error(s):\n" in summary
    assert "    line 4, entity '1': [duplicate-id] " in summary
    assert "    line 5: [missing-id] " in summary
    assert "    line 6: [malformed-row] " in summary
