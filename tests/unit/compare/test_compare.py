"""``geocode_dataflow.compare`` and ``geocode-dataflow compare`` on two known result sets (see
tests/fixtures/compare/README.md), plus the option handling of ``local run --compare-with``."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import types
from pathlib import Path

import pytest
from geocode_dataflow import cli
from geocode_dataflow.compare import (
    FAILED,
    MATCHED,
    MISSING,
    NO_MATCH,
    EntityComparison,
    Outcome,
    ResultSet,
    compare,
    compare_paths,
    distance_m,
    percentile,
)
from geocode_dataflow.errors import InvalidFeedError
from geocode_dataflow.schema import GeocodeEntity, GeocodePoint, GeocodeResponse, Point

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compare"
BING, AMAZON = FIXTURES / "bing", FIXTURES / "amazon"
NO_ADDRESS = "To geocode a location, you must specify at least one address field."
SERVER = "The service could not geocode this entity: ServiceUnavailable"
A_ORDER = [f"e{i:02d}" for i in (*range(1, 15), 16, 17, *range(19, 26), 15)]


@pytest.fixture(scope="module")
def comparison():
    return compare_paths(BING, AMAZON)


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- the summary --------------------------------------------------------------------------------


def test_compare_summary_counts_every_status_and_duplicate(comparison):
    summary = comparison.summary()

    assert (summary.label_a, summary.label_b, summary.entities) == ("bing-dataflow", "amazon", 25)
    assert summary.statuses_a == {MATCHED: 21, NO_MATCH: 2, FAILED: 1, MISSING: 1}
    assert summary.statuses_b == {MATCHED: 20, NO_MATCH: 2, FAILED: 2, MISSING: 1}
    assert (summary.duplicates_a, summary.duplicates_b) == (1, 1)
    assert (summary.matched_both, summary.matched_a_only, summary.matched_b_only) == (18, 3, 2)
    assert summary.failed_either == 2


def test_compare_summary_distances_are_shares_of_the_entities_matched_in_both(comparison):
    summary = comparison.summary()

    # 18 measured: nine at 0 m, three at 50 m, one at 500 m, three at 2 km, two at 50 km.
    assert summary.measured == 18
    assert summary.within == {
        "100m": pytest.approx(12 / 18),
        "1km": pytest.approx(13 / 18),
        "10km": pytest.approx(16 / 18),
    }
    assert summary.median_m == pytest.approx(25.0, abs=0.01)
    assert summary.p95_m == pytest.approx(50_000.0, abs=0.01)


def test_compare_summary_entity_type_and_confidence_changes(comparison):
    summary = comparison.summary()

    assert (summary.entity_type_downgrades.count, summary.entity_type_downgrades.examples) == (
        3,
        ("e08", "e10", "e23"),
    )
    assert (summary.entity_type_upgrades.count, summary.entity_type_upgrades.examples) == (
        1,
        ("e12",),
    )
    # e20: Address -> LandmarkBuilding is unranked, so no type change; High -> Medium is one.
    assert summary.confidence_downgrades.examples == ("e06", "e10", "e20")
    assert (summary.confidence_upgrades.count, summary.confidence_upgrades.examples) == (
        1,
        ("e12",),
    )


def test_compare_summary_as_json_rounds_and_names_every_figure(comparison):
    document = comparison.summary().to_dict()

    assert document["distance"] == {
        "measured": 18,
        "within_100m": 0.6667,
        "within_1km": 0.7222,
        "within_10km": 0.8889,
        "median_m": 25.0,
        "p95_m": 50000.0,
    }
    assert document["entity_type"]["downgrades"] == {"count": 3, "examples": ["e08", "e10", "e23"]}
    assert document["confidence"]["upgrades"] == {"count": 1, "examples": ["e12"]}
    assert (document["a"], document["b"], document["failed_either"]) == (
        "bing-dataflow",
        "amazon",
        2,
    )


# --- the per-entity rows ------------------------------------------------------------------------


def test_compare_csv_has_a_row_per_id_in_a_order_then_b_only_ids(comparison):
    sink = io.StringIO()
    comparison.write_csv(sink)
    rows = read_csv(sink.getvalue())

    assert rows[0] == (
        "id,status_a,status_b,distance_m,entity_type_a,entity_type_b,confidence_a,confidence_b,"
        "match_codes_a,match_codes_b,fault_reason_a,fault_reason_b"
    ).split(",")
    assert [row[0] for row in rows[1:]] == [*A_ORDER, "e18"]
    by_id = {row[0]: ",".join(row) for row in rows[1:]}
    assert by_id["e01"] == "e01,matched,matched,0.0,Address,Address,High,High,Good,Good,,"
    assert by_id["e05"] == "e05,matched,matched,50.0,Address,Address,High,High,Good,Good,,"
    assert by_id["e06"] == "e06,matched,matched,50.0,Address,Address,High,Medium,Good,Ambiguous,,"
    assert by_id["e08"] == (
        "e08,matched,matched,2000.0,Address,PopulatedPlace,High,High,Good,UpHierarchy,,"
    )
    assert by_id["e10"] == (
        "e10,matched,matched,50000.0,Address,AdminDivision1,High,Low,Good,UpHierarchy,,"
    )
    assert by_id["e25"] == "e25,matched,matched,500.0,Address,Address,High,High,Good,Good,,"
    assert by_id["e13"] == "e13,matched,no_match,,Address,,Low,,Ambiguous,,,"
    assert by_id["e14"] == "e14,no_match,matched,,,Address,,Low,,Ambiguous,,"
    assert by_id["e15"] == f"e15,failed,failed,,,,,,,,{NO_ADDRESS},{NO_ADDRESS}"
    assert by_id["e16"] == f"e16,matched,failed,,Address,,High,,Good,,,{SERVER}"
    assert by_id["e17"] == "e17,matched,missing,,PopulatedPlace,,High,,Good,,,"
    assert by_id["e18"] == "e18,missing,matched,,,PopulatedPlace,,High,,Good,,"
    assert by_id["e22"] == "e22,no_match,no_match,,,,,,,,,"


def test_compare_duplicate_ids_keep_the_first_answer(comparison):
    rows = {row.id: row for row in comparison.rows}

    # Both duplicates lie 50 km off with another type: the first answers are the ones compared.
    assert (rows["e19"].distance_m, rows["e19"].a.entity_type) == (0.0, "PopulatedPlace")
    assert (rows["e24"].distance_m, rows["e24"].b.confidence) == (0.0, "High")
    assert len(rows) == len(comparison.rows) == 25


def test_compare_files_instead_of_folders_are_labelled_by_their_path():
    comparison = compare(ResultSet.at(BING / "succeeded.xml"), ResultSet.at(AMAZON / "failed.csv"))
    summary = comparison.summary()

    assert (summary.label_a, summary.label_b) == (
        str(BING / "succeeded.xml"),
        str(AMAZON / "failed.csv"),
    )
    assert (summary.entities, summary.matched_both, summary.measured) == (24, 0, 0)
    assert summary.within == {"100m": None, "1km": None, "10km": None}
    assert (summary.median_m, summary.p95_m) == (None, None)
    assert summary.statuses_b == {MATCHED: 0, NO_MATCH: 0, FAILED: 2, MISSING: 22}


def test_compare_folder_label_falls_back_to_the_folder_name_without_a_provider(tmp_path):
    folder = tmp_path / "azure-run"
    folder.mkdir()
    shutil.copy(AMAZON / "failed.csv", folder)
    (folder / "job.json").write_text("not json")

    assert ResultSet.at(folder).label == "azure-run"
    assert ResultSet.at(BING).label == "bing-dataflow"
    assert [p.name for p in ResultSet.at(BING).files] == ["succeeded.xml", "failed.xml"]


# --- the pieces ---------------------------------------------------------------------------------


def test_distance_m_is_the_haversine_distance():
    assert distance_m(47.0, -122.0, 47.0, -122.0) == 0.0
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195.08, abs=0.01)
    # London -> Paris, about 343.5 km on a sphere.
    assert distance_m(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343_556, rel=1e-3)


def test_percentile_interpolates_linearly_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)


def test_outcome_of_an_entity_reads_status_point_and_fault():
    failed = GeocodeEntity(id="1", status_code="ServerError")
    no_match = GeocodeEntity(id="2", status_code="Success")
    by_geocode_point = GeocodeEntity(
        id="3",
        status_code="Success",
        responses=[
            GeocodeResponse(entity_type="Address", geocode_points=[GeocodePoint("47.5", "-122.25")])
        ],
    )
    unreadable_point = GeocodeEntity(
        id="4", status_code="Success", responses=[GeocodeResponse(point=Point("north", "nan"))]
    )

    assert Outcome.of(failed) == Outcome(FAILED, fault_reason="ServerError")
    assert Outcome.of(no_match) == Outcome(NO_MATCH)
    assert (Outcome.of(by_geocode_point).latitude, Outcome.of(by_geocode_point).longitude) == (
        47.5,
        -122.25,
    )
    assert Outcome.of(unreadable_point) == Outcome(MATCHED)


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        ("Address", "PopulatedPlace", -4),
        ("RoadBlock", "RoadIntersection", 0),
        ("CountryRegion", "AdminDivision1", 1),
        ("address", "POSTCODE1", -3),
        ("Address", "LandmarkBuilding", 0),
        (None, "Address", 0),
    ],
)
def test_entity_type_change_follows_the_order_and_ignores_unknown_types(before, after, change):
    def matched(entity_type):
        return Outcome(MATCHED, 0.0, 0.0, entity_type)

    assert EntityComparison("x", matched(before), matched(after)).entity_type_change == change


def two_succeeded_sets(folder: Path) -> Path:
    (folder / "succeeded.xml").write_text("<GeocodeFeed />")
    (folder / "succeeded.csv").write_text("")
    return folder


def a_version_3_file(folder: Path) -> Path:
    (folder / "failed.csv").write_text(
        "Bing Spatial Data Services, 3.0\nId\n1\n"
    )  # no such version
    return folder


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda folder: folder / "nowhere", "nowhere: no such file or folder"),
        (lambda folder: folder, "no succeeded.* or failed.* result set"),
        (two_succeeded_sets, "more than one succeeded result set (succeeded.csv, succeeded.xml)"),
        (a_version_3_file, "failed.csv: not a readable Data Schema file"),
    ],
)
def test_compare_unreadable_sides_raise_invalid_feed_naming_the_file(tmp_path, setup, message):
    with pytest.raises(InvalidFeedError) as raised:
        compare_paths(setup(tmp_path), BING)

    assert message in str(raised.value)


# --- geocode-dataflow compare --------------------------------------------------------------------

TERMINAL = """\
compare A=bing-dataflow with B=amazon: 25 entities

                 bing-dataflow  amazon
matched                     21      20
no match                     2       2
failed                       1       2
missing                      1       1
duplicate Ids                1       1

matched in both  18 (A only 3, B only 2; failed in either 2)
within           100 m 66.7%, 1 km 72.2%, 10 km 88.9% (of 18 with a point in both)
distance         median 25 m, 95th percentile 50 km
entity type      3 downgrades (e08, e10, e23), 1 upgrade (e12)
confidence       3 downgrades (e06, e10, e20), 1 upgrade (e12)
"""


def test_cli_compare_prints_an_aligned_summary(capsys):
    assert cli.main(["compare", str(BING), str(AMAZON)]) == cli.EXIT_OK

    captured = capsys.readouterr()
    assert captured.out == TERMINAL
    assert captured.err == ""


def test_cli_compare_json_prints_the_summary_document(capsys, comparison):
    assert cli.main(["compare", str(BING), str(AMAZON), "--json"]) == cli.EXIT_OK

    assert json.loads(capsys.readouterr().out) == comparison.summary().to_dict()


def test_cli_compare_out_writes_the_per_entity_csv(tmp_path, capsys, comparison):
    report = tmp_path / "report.csv"

    assert cli.main(["compare", str(BING), str(AMAZON), "--out", str(report)]) == cli.EXIT_OK

    expected = io.StringIO()
    comparison.write_csv(expected)
    assert report.read_text(encoding="utf-8") == expected.getvalue()
    assert len(read_csv(report.read_text(encoding="utf-8"))) == 26
    captured = capsys.readouterr()
    assert f"wrote {report} (25 entities)" in captured.err
    assert captured.out == TERMINAL


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.csv", None), ("broken.xml", "<GeocodeFeed><GeocodeEntity Id='1'>")],
)
def test_cli_compare_unreadable_input_is_a_usage_error_naming_the_file(
    tmp_path, capsys, name, content
):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)

    assert cli.main(["compare", str(BING), str(path)]) == cli.EXIT_USAGE

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"geocode-dataflow: error: cannot compare: {path}")
    assert len(captured.err.splitlines()) == 1


# --- local run --compare-with: the options -------------------------------------------------------


@pytest.fixture
def local_entry(monkeypatch):
    seen = {}
    fake = types.ModuleType("local_pipeline.cli")
    fake.run_local = lambda args: seen.update(vars(args)) or 0
    monkeypatch.setitem(sys.modules, "local_pipeline.cli", fake)
    return seen


def test_local_compare_with_gets_both_providers_defaults(local_entry):
    argv = ["local", "demo", "--provider", "amazon-location", "--compare-with", "bing-dataflow"]

    assert cli.main([*argv, "--requests-per-second", "40"]) == 0
    assert (local_entry["provider"], local_entry["compare_with"]) == (
        "amazon-location",
        "bing-dataflow",
    )
    assert (local_entry["processing_seconds"], local_entry["requests_per_second"]) == (2.0, 40.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--compare-with", "bing-dataflow"],
            "--compare-with bing-dataflow is the --provider already: name another provider",
        ),
        (
            ["--requests-per-second", "5"],
            "--requests-per-second applies to --provider amazon-location or azure-maps only",
        ),
        (
            ["--provider", "amazon-location", "--compare-with", "azure-maps"]
            + ["--processing-seconds", "1"],
            "--processing-seconds applies to --provider bing-dataflow only",
        ),
        (
            ["--compare-with", "amazon-location", "--keep-running"],
            "--keep-running cannot be combined with --compare-with",
        ),
    ],
)
def test_local_compare_with_refusals_are_usage_errors(local_entry, capsys, argv, message):
    assert cli.main(["local", "run", "in.csv", "--out", "o", *argv]) == cli.EXIT_USAGE

    assert capsys.readouterr().err.strip() == f"geocode-dataflow: error: {message}"
    assert local_entry == {}


def test_local_requests_per_second_is_accepted_for_every_synchronous_provider(local_entry):
    for provider in ("amazon-location", "azure-maps"):
        argv = ["local", "demo", "--provider", provider, "--requests-per-second", "7"]
        assert cli.main(argv) == 0
        assert (local_entry["provider"], local_entry["requests_per_second"]) == (provider, 7.0)


def test_local_option_values_reach_only_the_provider_they_apply_to():
    local_cli = pytest.importorskip("local_pipeline.cli")
    args = cli.build_parser().parse_args(
        ["local", "demo", "--compare-with", "amazon-location", "--requests-per-second", "9"]
        + ["--processing-seconds", "0.5"]
    )

    assert local_cli.option_values(args, "bing-dataflow") == {
        "provider": "bing-dataflow",
        "emulator_processing_seconds": 0.5,
    }
    assert local_cli.option_values(args, "amazon-location") == {
        "provider": "amazon-location",
        "requests_per_second": 9.0,
    }


# --- local run --compare-with: the two runs, with a fake pipeline run ----------------------------


@pytest.fixture
def fake_runs(monkeypatch):
    """``run_job`` replaced: each provider's run copies a fixture folder and ends as told."""
    local_cli = pytest.importorskip("local_pipeline.cli")
    runs = []
    statuses = {"bing-dataflow": "COMPLETED", "amazon-location": "COMPLETED"}

    def run_job(source, out, options, *, timeout, keep_running=False):
        runs.append((out.name, options))
        shutil.copytree(BING if options["provider"] == "bing-dataflow" else AMAZON, out)
        return types.SimpleNamespace(status=statuses[options["provider"]])

    monkeypatch.setattr(local_cli, "run_job", run_job)
    return runs, statuses


def test_local_compare_with_runs_each_provider_into_its_folder_and_compares(
    tmp_path, capsys, fake_runs
):
    runs, _ = fake_runs
    source = tmp_path / "in.csv"
    source.write_text("Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Paris\n")
    out = tmp_path / "out"

    argv = ["local", "run", str(source), "--out", str(out), "--compare-with", "amazon-location"]
    assert cli.main(argv) == 0

    assert [name for name, _ in runs] == ["bing-dataflow", "amazon-location"]
    assert runs[0][1]["emulator_processing_seconds"] == 2.0
    assert len(read_csv((out / "compare.csv").read_text(encoding="utf-8"))) == 26
    assert "compare A=bing-dataflow with B=amazon" in capsys.readouterr().out


@pytest.mark.parametrize(("status", "code"), [("FAILED", 4), ("REJECTED", 1), ("COMPLETED", 0)])
def test_local_compare_with_exits_with_the_worst_of_the_two(
    tmp_path, capsys, fake_runs, status, code
):
    _, statuses = fake_runs
    statuses["amazon-location"] = status
    source = tmp_path / "in.csv"
    source.write_text("x")
    out = tmp_path / "out"

    argv = ["local", "run", str(source), "--out", str(out), "--compare-with", "amazon-location"]
    assert cli.main(argv) == code

    assert (out / "compare.csv").exists() == (status == "COMPLETED")
    if status != "COMPLETED":
        assert f"no comparison: the amazon-location job ended {status}" in capsys.readouterr().err
