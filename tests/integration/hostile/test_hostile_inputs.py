"""Hostile and broken files dropped into the whole local pipeline.

Each file must end the way its case says (hostile_corpus.py): REJECTED before any provider
call, with a report that names the problem, or COMPLETED with the entities the service fails
in the failed set. Either way the submit function returns normally (an exception would make
Lambda retry the event), and the pipeline still completes a good file afterwards.
"""

from __future__ import annotations

import gzip
import io
import json
import pyexpat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geocode_dataflow.schema import Limits, validate_feed
from hostile_corpus import (
    FAST_OPTIONS,
    FORMULA_VALUES,
    NS,
    Bomb,
    HostileCase,
    bombs,
    by_kind,
    cases,
    drop_and_check,
    good_csv,
    gzip_repeat,
    isolated_pipeline,
    result_entities,
    text_feed,
)
from local_pipeline.stack import LocalPipelineOptions

pytestmark = pytest.mark.integration

EXPAT_VERSION = tuple(int(part) for part in pyexpat.EXPAT_VERSION.split("_")[1].split("."))


@pytest.fixture(scope="module")
def pipeline():
    with isolated_pipeline(
        LocalPipelineOptions(key="hostile-key-0123456789", **FAST_OPTIONS)
    ) as local:
        yield local


def assert_clean(outcome) -> None:
    assert outcome.clean, f"{outcome.case.kind}: {outcome.status}: " + "; ".join(outcome.problems)


def test_corpus_has_at_least_25_kinds():
    kinds = [case.kind for case in cases()]
    assert len(kinds) == len(set(kinds))
    assert len(kinds) >= 25


def test_every_file_is_under_1_mb():
    # The pipeline's inputs are small; what they inflate into is the reader's problem.
    sizes = {case.kind: len(case.data) for case in cases()}
    sizes.update({bomb.kind: len(bomb.build()) for bomb in bombs()})
    assert max(sizes.values()) < 1_000_000, sorted(sizes.items(), key=lambda item: -item[1])[:3]


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.kind)
def test_hostile_file_ends_as_expected(pipeline, case):
    assert_clean(drop_and_check(pipeline, case))


def test_formula_cells_come_back_verbatim(pipeline):
    case = by_kind()["spreadsheet-formulas"]
    job_id = pipeline.drop(case.data, "formulas-verbatim.csv")
    record = pipeline.wait(job_id)
    assert record.status == "COMPLETED", record.error

    entities = {
        **result_entities(pipeline, record, "succeeded"),
        **result_entities(pipeline, record, "failed"),
    }
    assert {k: e.geocode_request.query for k, e in entities.items()} == FORMULA_VALUES
    raw = b"".join(
        pipeline.read(uri) for name, uri in record.outputs.items() if name != "job"
    ).decode("utf-8")
    assert "+cmd|' /C calc'!A0" in raw and "'=HYPERLINK" not in raw, "cells are not rewritten"
    warned = {
        w.entity_id
        for w in validate_feed(io.BytesIO(case.data), "f.csv").warnings
        if w.code == "formula-injection"
    }
    assert warned == set(FORMULA_VALUES)


def test_over_the_file_entity_limit_is_rejected(pipeline):
    # 1,000,001 distinct rows (Bing: 200,000 per job, five parts at most), then 15 million more
    # in ~40 KB of gzip: validation stops at entity 1,000,001 instead of reading to the end.
    rows = [f"e{i},en-US,Seattle WA" for i in range(1_000_001)]
    data = gzip.compress(text_feed(rows).encode(), mtime=1, compresslevel=1) + gzip_repeat(
        "", "x,en-US,Seattle WA\n", 15_000_000
    )
    case = HostileCase(
        "over-file-limit",
        "many.csv.gz",
        data,
        "rejected",
        ("1,000,001", "limit is 1,000,000"),
        "too-many-entities",
        1_000_003,
    )
    assert_clean(drop_and_check(pipeline, case))


def test_gzip_bomb_is_stopped_at_the_size_limit(pipeline):
    # ~320 MB of blank-celled rows in ~320 KB of gzip: past 300 MB of UTF-8 the read stops.
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
        archive.write(good_csv("bomb", 1))
        row = b" " * 100_000 + b"\n"
        for _ in range(3_200):
            archive.write(row)
    data = buffer.getvalue()
    assert len(data) < 1_000_000
    case = HostileCase(
        "gzip-bomb",
        "bomb.csv.gz",
        data,
        "rejected",
        ("larger than 314,572,800 bytes", "uncompressed"),
        "too-large",
    )
    assert_clean(drop_and_check(pipeline, case))


def test_single_50_mb_line_is_rejected(pipeline):
    data = text_feed(["big,en-US," + "A" * (50 * 1024 * 1024)]).encode()
    case = HostileCase(
        "50-mb-line", "one-line.csv", data, "rejected", ("131,072",), "malformed-row", 3
    )
    assert_clean(drop_and_check(pipeline, case))


def test_pipeline_still_healthy_afterwards(pipeline):
    case = HostileCase("good-after-hostile", "good-after.csv", good_csv("after", 5), "completed")
    assert_clean(drop_and_check(pipeline, case))


# ------------------------------------------------------------------ schema-level checks
def test_size_limit_counts_uncompressed_utf8():
    # The pipeline has no setting for the byte limit (only MAX_ENTITIES): the limit itself is
    # checked here on the validator, with a small Limits.
    rows = [f"s{i},en-US,Seattle WA" for i in range(5_000)]
    data = text_feed(rows).encode()  # ~110 KB
    limits = Limits(max_bytes=64 * 1024)
    for name, payload in [
        ("plain.csv", data),
        ("packed.csv.gz", gzip.compress(data)),
        ("wide.txt", b"\xff\xfe" + data.decode().encode("utf-16-le")),
    ]:
        report = validate_feed(io.BytesIO(payload), name, limits=limits)
        assert not report.valid and report.errors[0].code == "too-large", (name, report.to_text())
        assert "65,536" in report.errors[0].message
    # UTF-16 of ~40 KB of text is ~80 KB, but it is 40 KB once transcoded: under the limit.
    small = text_feed(rows[:1_500]).encode()
    assert len(small) < 64 * 1024 < 2 * len(small)
    report = validate_feed(
        io.BytesIO(b"\xff\xfe" + small.decode().encode("utf-16-le")), "w.txt", limits=limits
    )
    assert report.valid, report.to_text()


_RSS_PROBE = """
import resource, sys
from geocode_dataflow.schema import validate_feed
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = validate_feed(sys.argv[1], sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(report.valid, report.errors[0].code if report.errors else "", (after - before) // 1024)
"""


def test_single_50_mb_line_peak_memory(tmp_path):
    path = tmp_path / "one-line.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(text_feed([]))
        out.write("big,en-US," + "A" * (50 * 1024 * 1024) + "\n")
    root = Path(__file__).resolve().parents[3]
    env = {"PYTHONPATH": str(root / "layers" / "shared"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    valid, code, growth_mb = result.stdout.split()
    print(f"\n50 MB single line: {code}, peak RSS growth {growth_mb} MB")
    assert valid == "False" and code == "malformed-row"
    assert int(growth_mb) < 200


@pytest.mark.parametrize("token", ["attribute", "comment"])
def test_huge_xml_token_is_rejected_in_linear_time(token):
    # expat < 2.6 re-scans an incomplete token from its start on every chunk fed: validating
    # such a file to the end took 14 s (50 MB attribute) to ~10 minutes (300 MB). The reader
    # stops once one token passes 1 MiB, so the time no longer depends on the token's size.
    def feed(megabytes: int) -> bytes:
        big = "A" * (megabytes << 20)
        entity = (
            f'<GeocodeEntity Id="a"><GeocodeRequest Query="{big}"/></GeocodeEntity>'
            if token == "attribute"
            else f'<!--{big}--><GeocodeEntity Id="a"><GeocodeRequest Query="q"/></GeocodeEntity>'
        )
        return (
            f'<?xml version="1.0"?>\n<GeocodeFeed xmlns="{NS}" Version="2.0">\n{entity}'
            "</GeocodeFeed>"
        ).encode()

    seconds = {}
    for megabytes in (8, 64):
        data = feed(megabytes)
        started = time.perf_counter()
        report = validate_feed(io.BytesIO(data), "huge.xml")
        seconds[megabytes] = time.perf_counter() - started
        found = [(issue.code, issue.line) for issue in report.errors]
        assert found == [("token-too-large", 3)], report.to_text()
        assert "larger than 1 MiB" in report.errors[0].message
        assert report.utf8_bytes < 4 << 20, "reading stopped early, not at the end of the file"
    print(
        f"\nhuge XML {token} rejected (expat {'.'.join(map(str, EXPAT_VERSION))}): "
        + ", ".join(f"{mb} MB in {s:.3f} s" for mb, s in seconds.items())
    )
    assert seconds[64] < 1.0 and seconds[8] < 1.0


def test_rejection_report_is_json_with_every_error_line(pipeline):
    data = text_feed(["d1,en-US,Paris", "d1,en-US,Rome", "d1,en-US,Lyon"]).encode()
    job_id = pipeline.drop(data, "three-dupes.csv")
    record = pipeline.wait(job_id)
    report = json.loads(pipeline.read(record.rejection_report))
    assert report["status"] == "REJECTED" and report["job_id"] == job_id
    assert [(e["code"], e["line"]) for e in report["report"]["errors"]] == [
        ("duplicate-id", 4),
        ("duplicate-id", 5),
    ]


# ------------------------------------------------------------------ bombs, under a memory cap
ADDRESS_SPACE = 1 << 30  # RLIMIT_AS of the child: a Lambda has 512 MB to 1 GB
PEAK_LIMIT_MB = 512

_BOUNDED_CLI = """
import json, resource, sys, time
limit, figures = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from geocode_dataflow import cli
started = time.perf_counter()
try:
    code = cli.main(sys.argv[3:])
except MemoryError:
    code = "MemoryError"
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked (pytest) process.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
with open(figures, "w") as out:
    json.dump({"exit": code, "seconds": seconds, "peak_mb": peak}, out)
"""


def run_bounded(argv: list[str], folder: Path, *, timeout: float = 300) -> dict:
    """``geocode-dataflow *argv`` in a child limited to ADDRESS_SPACE bytes of address space.

    Returns its exit code (``MemoryError`` when it ran out), stdout, stderr, wall seconds of
    the command (printed, never asserted: the machine is shared) and peak RSS in MB, the
    interpreter and its imports (~30 MB) included."""
    root = Path(__file__).resolve().parents[3]
    figures = folder / f"figures-{argv[0]}.json"
    env = {"PYTHONPATH": str(root / "layers" / "shared"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", _BOUNDED_CLI, str(ADDRESS_SPACE), str(figures), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert figures.exists(), f"the child died (exit {result.returncode}): {result.stderr[-2000:]}"
    outcome = json.loads(figures.read_text())
    return {**outcome, "stdout": result.stdout, "stderr": result.stderr}


@pytest.mark.parametrize("bomb", bombs(), ids=lambda bomb: bomb.kind)
def test_bomb_ends_with_its_error_in_bounded_memory(bomb: Bomb, tmp_path):
    path = tmp_path / bomb.filename
    path.write_bytes(bomb.build())
    target = "csv" if ".xml" in bomb.filename else "xml"
    checked = run_bounded(["validate", str(path), "--json", *bomb.args], tmp_path)
    converted = run_bounded(
        ["convert", str(path), "--to", target, "-o", str(tmp_path / f"out.{target}"), *bomb.args],
        tmp_path,
    )
    print(
        f"\n{bomb.kind} ({path.stat().st_size:,} bytes): validate {checked['peak_mb']:.0f} MB "
        f"{checked['seconds']:.2f} s; convert {converted['peak_mb']:.0f} MB "
        f"{converted['seconds']:.2f} s"
    )
    for outcome in (checked, converted):
        assert outcome["exit"] != "MemoryError", outcome["stderr"][-2000:]
        assert outcome["peak_mb"] < PEAK_LIMIT_MB, outcome
    report = json.loads(checked["stdout"])
    if bomb.code is None:
        assert checked["exit"] == 0 and converted["exit"] == 0, (report, converted["stderr"])
        (warning,) = report["warnings"]
        assert warning["code"] == bomb.collapsed and warning["count"] == report["warning_count"]
        return
    assert checked["exit"] == 1, report
    first = report["errors"][0]
    assert (first["code"], first.get("line")) == (bomb.code, bomb.line), report["errors"][:3]
    assert converted["exit"] == 1, converted["stderr"]
    said = converted["stderr"].lower()
    assert "error:" in said and f"line {bomb.line}" in said, converted["stderr"]
    messages = " ".join(issue["message"] for issue in report["errors"]).lower() + said
    assert all(word.lower() in messages for word in bomb.words), (bomb.words, messages[:500])
