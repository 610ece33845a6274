"""The geocode-dataflow CLI, in-process, against the scripted fake service (no emulator needed)."""

from __future__ import annotations

import argparse
import io
import json
import runpy
import socket
import subprocess
import sys
import types

import pytest
from client_fakes import SECRET_KEY, Reply, envelope, job_resource, json_reply
from geocode_dataflow import cli
from geocode_dataflow.cli.display import ProgressLine
from geocode_dataflow.cli.results import sniff_format
from geocode_dataflow.client import DataflowJob

JOB_ID = "5e8d2c4b7a1f4c3e9b0d6a2f8e4c1b7d"
CREATE = "/REST/v1/Dataflows/Geocode"
STATUS = f"/REST/v1/dataflows/Geocode/{JOB_ID}"
PIPE = (
    b"Bing Spatial Data Services, 2.0\n"
    b"Id|GeocodeRequest/Query|ReverseGeocodeRequest/Location/Latitude|ReverseGeocodeRequest/Location/Longitude\n"
    b"1|1 Microsoft Way, Redmond, WA||\n"
    b"2||47.64|-122.13\n"
)
SUCCEEDED = PIPE.replace(b"2||47.64|-122.13\n", b"")
FAILED = PIPE.replace(b"1|1 Microsoft Way, Redmond, WA||\n", b"")


@pytest.fixture
def service_env(fake_service, monkeypatch):
    monkeypatch.setenv("BING_MAPS_KEY", SECRET_KEY)
    monkeypatch.setenv("DATAFLOW_ENDPOINT", fake_service.base_url)
    return fake_service


@pytest.fixture
def feed(tmp_path):
    path = tmp_path / "stores.txt"
    path.write_bytes(PIPE)
    return path


def script_job(service, statuses=("Pending", "Completed"), outputs=None, **extra):
    outputs = {"succeeded": SUCCEEDED, "failed": FAILED} if outputs is None else outputs
    service.on(
        "POST", CREATE, json_reply(201, envelope(201, job_resource(JOB_ID, base=service.url)))
    )
    replies = []
    for status in statuses:
        finished = status != "Pending"
        resource = job_resource(
            JOB_ID,
            status,
            base=service.url,
            outputs=tuple(outputs) if finished else (),
            totalEntityCount=2,
            processedEntityCount=2 if finished else 1,
            failedEntityCount=1 if "failed" in outputs and finished else 0,
            **extra,
        )
        replies.append(json_reply(200, envelope(200, resource)))
    service.on("GET", STATUS, *replies)
    for name, body in outputs.items():
        service.on(
            "GET", f"{STATUS}/output/{name}", Reply(200, body, {"Content-Type": "text/plain"})
        )


# --- parser, configuration -----------------------------------------------------------------------


def test_help_lists_every_command_and_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in (
        "validate",
        "convert",
        "run",
        "status",
        "download",
        "jobs",
        "datasource-download",
        "emulator",
        "local",
    ):
        assert f"    {command}" in out
    assert "exit codes:" in out and "BING_MAPS_KEY" in out and "DATAFLOW_ENDPOINT" in out


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["geocode_dataflow", "--version"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("geocode_dataflow", run_name="__main__")
    assert exited.value.code == 0
    assert "geocode-dataflow" in capsys.readouterr().out


def test_missing_key_is_a_one_line_usage_error(monkeypatch, capsys, feed):
    monkeypatch.delenv("BING_MAPS_KEY", raising=False)

    assert cli.main(["run", str(feed), "--out", "unused"]) == cli.EXIT_USAGE

    err = capsys.readouterr().err
    assert (
        err.strip()
        == "geocode-dataflow: error: no Bing Maps key: set BING_MAPS_KEY (or pass --key)"
    )


def test_plain_http_endpoint_elsewhere_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("BING_MAPS_KEY", SECRET_KEY)

    code = cli.main(
        ["status", JOB_ID, "--endpoint", "http://spatial.virtualearth.net/REST/v1/Dataflows"]
    )

    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "plain http" in err and "Traceback" not in err and SECRET_KEY not in err


# --- validate / convert --------------------------------------------------------------------------


def test_validate_valid_file_with_warnings_exits_zero(feed, tmp_path, capsys):
    warned = tmp_path / "warned.txt"
    warned.write_bytes(PIPE + b"3|||\n")

    assert cli.main(["validate", str(warned)]) == cli.EXIT_OK
    assert "VALID" in capsys.readouterr().out


def test_validate_invalid_file_exits_one_and_json_report(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,a\n1,b\n")

    assert cli.main(["validate", str(bad), "--json"]) == cli.EXIT_INVALID
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False


def test_validate_basic_limit(tmp_path, capsys):
    many = tmp_path / "many.txt"
    rows = b"".join(f"{i}|{i} Main St\n".encode() for i in range(51))
    many.write_bytes(b"Bing Spatial Data Services, 2.0\nId|GeocodeRequest/Query\n" + rows)

    assert cli.main(["validate", str(many)]) == cli.EXIT_OK
    assert cli.main(["validate", str(many), "--basic"]) == cli.EXIT_INVALID
    assert cli.main(["validate", str(many), "--max-entities", "60"]) == cli.EXIT_OK


def test_validate_missing_file_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "nope.csv")]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "nope.csv" in err and "Traceback" not in err


def test_convert_to_stdout_and_to_file(feed, tmp_path, capsysbinary):
    assert cli.main(["convert", str(feed), "--to", "xml"]) == cli.EXIT_OK
    assert b"<GeocodeFeed" in capsysbinary.readouterr().out

    target = tmp_path / "stores.csv"
    assert cli.main(["convert", str(feed), "--to", "csv", "-o", str(target)]) == cli.EXIT_OK
    assert target.read_bytes().startswith(b"Bing Spatial Data Services, 2.0")
    assert not list(tmp_path.glob(".*.part"))


# --- run -----------------------------------------------------------------------------------------


def test_run_uploads_polls_and_downloads_both_sets(service_env, feed, tmp_path, capsys):
    script_job(service_env)
    out = tmp_path / "results"

    code = cli.main(
        ["run", str(feed), "--out", str(out), "--poll-seconds", "0.01", "--description", "d1"]
    )

    assert code == cli.EXIT_OK
    assert (out / "succeeded.txt").read_bytes() == SUCCEEDED
    assert (out / "failed.txt").read_bytes() == FAILED
    assert sorted(p.name for p in out.iterdir()) == [
        "failed.txt",
        "results.csv",
        "results.geojson",
        "succeeded.txt",
    ]
    table = (out / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(table) == 1 + 2  # the header, then both input rows
    (post,) = service_env.calls("POST")
    assert post.param("input") == "pipe" and post.param("description") == "d1" and post.body == PIPE
    captured = capsys.readouterr()
    progress = [line for line in captured.err.splitlines() if line.startswith(f"job {JOB_ID}:")]
    assert progress[0].startswith(f"job {JOB_ID}: Pending, 1/2 processed (50%), elapsed 0:00:0")
    assert progress[-1].startswith(f"job {JOB_ID}: Completed, 2/2 processed (100%)")
    assert "\r" not in captured.err  # not a terminal: plain lines
    assert (
        "status:       Completed" in captured.out
        and "2 total, 2 processed, 1 failed" in captured.out
    )
    assert "results.csv" in captured.out and "failed       " in captured.out
    assert SECRET_KEY not in captured.out + captured.err


def test_run_puts_the_services_sets_in_input_order(service_env, tmp_path, capsys):
    header = b"Bing Spatial Data Services, 2.0\nId|GeocodeRequest/Query\n"
    source = tmp_path / "five.txt"
    source.write_bytes(header + b"".join(b"%d|%d Main St\n" % (i, i) for i in range(1, 6)))
    # The service's own order (protocol reference 6: an output came back 002, 003, 001), and
    # an entity under an Id the input lacks, which is kept, at the end.
    succeeded = header + b"5|5 Main St\n9|9 Main St\n1|1 Main St\n3|3 Main St\n"
    failed = header + b"4|4 Main St\n2|2 Main St\n"
    script_job(service_env, outputs={"succeeded": succeeded, "failed": failed})
    out = tmp_path / "results"

    code = cli.main(["run", str(source), "--out", str(out), "--poll-seconds", "0.01"])

    assert code == cli.EXIT_OK
    ids = {
        which: [line.split("|")[0] for line in (out / f"{which}.txt").read_text().splitlines()[2:]]
        for which in ("succeeded", "failed")
    }
    assert ids == {"succeeded": ["1", "3", "5", "9"], "failed": ["2", "4"]}
    table = (out / "results.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [row.split(",")[0] for row in table[1:]] == ["1", "2", "3", "4", "5"]
    assert not list(out.glob(".*"))  # no partial file or index left behind


def test_run_invalid_file_sends_nothing(service_env, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"not a feed\n")

    assert cli.main(["run", str(bad), "--out", str(tmp_path / "o")]) == cli.EXIT_INVALID
    assert service_env.requests == []
    assert "nothing was sent" in capsys.readouterr().err


def test_run_refuses_a_non_empty_out_before_anything_is_sent(service_env, feed, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "succeeded.txt").write_bytes(b"yesterday's results")

    code = cli.main(["run", str(feed), "--out", str(out), "--poll-seconds", "0.01"])

    assert code == cli.EXIT_USAGE
    assert service_env.requests == []  # no job created, nothing billed
    assert (out / "succeeded.txt").read_bytes() == b"yesterday's results"
    assert capsys.readouterr().err.strip() == (
        f"geocode-dataflow: error: --out {out} is not empty: choose an empty or new directory, "
        "or pass --force to overwrite what is there"
    )


def test_run_force_writes_into_a_non_empty_out(service_env, feed, tmp_path):
    script_job(service_env)
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    code = cli.main(["run", str(feed), "--out", str(out), "--poll-seconds", "0.01", "--force"])

    assert code == cli.EXIT_OK
    assert (out / "succeeded.txt").read_bytes() == SUCCEEDED
    assert (out / "notes.txt").read_text() == "mine"


def test_run_aborted_job_exits_four(service_env, feed, tmp_path, capsys):
    script_job(
        service_env, statuses=("Aborted",), outputs={}, errorMessage="The file could not be read."
    )

    code = cli.main(["run", str(feed), "--out", str(tmp_path / "o"), "--poll-seconds", "0.01"])

    assert code == cli.EXIT_ABORTED
    assert "aborted: The file could not be read." in capsys.readouterr().err


def test_run_timeout_exits_five_and_says_the_job_keeps_running(service_env, feed, tmp_path, capsys):
    script_job(service_env, statuses=("Pending",))

    code = cli.main(
        [
            "run",
            str(feed),
            "--out",
            str(tmp_path / "o"),
            "--poll-seconds",
            "0.05",
            "--timeout",
            "0.2",
        ]
    )

    assert code == cli.EXIT_NOT_FINISHED
    err = capsys.readouterr().err
    assert f"geocode-dataflow status {JOB_ID}" in err


def test_run_quota_exhausted_exits_six(service_env, feed, tmp_path, capsys):
    quota = json_reply(
        503,
        envelope(503, details=["JobUsageQuota: Account already has 10 'Pending' jobs"]),
        **{"Retry-After": "0"},
    )
    service_env.on("POST", CREATE, quota)

    assert cli.main(["run", str(feed), "--out", str(tmp_path / "o")]) == cli.EXIT_UNAVAILABLE
    assert "JobUsageQuota" in capsys.readouterr().err


# --- status / download / jobs --------------------------------------------------------------------


def test_status_human_and_json(service_env, capsys):
    script_job(service_env, statuses=("Completed",))

    assert cli.main(["status", JOB_ID]) == cli.EXIT_OK
    assert "result sets:  succeeded, failed" in capsys.readouterr().out
    assert cli.main(["status", JOB_ID, "--json"]) == cli.EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["id"] == JOB_ID and document["status"] == "Completed"
    assert set(document["output_urls"]) == {"succeeded", "failed"}


def test_status_unknown_job_exits_three(service_env, capsys):
    assert cli.main(["status", "unknown"]) == cli.EXIT_REJECTED
    assert "HTTP 404" in capsys.readouterr().err


def test_download_pending_job_exits_five(service_env, tmp_path, capsys):
    script_job(service_env, statuses=("Pending",))

    assert cli.main(["download", JOB_ID, "--out", str(tmp_path)]) == cli.EXIT_NOT_FINISHED


def test_download_names_files_after_their_content(service_env, tmp_path):
    script_job(
        service_env,
        statuses=("Completed",),
        outputs={"succeeded": b'<?xml version="1.0"?><GeocodeFeed/>', "failed": FAILED},
    )

    assert cli.main(["download", JOB_ID, "--out", str(tmp_path)]) == cli.EXIT_OK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failed.txt", "succeeded.xml"]


def test_jobs_table_and_json(service_env, capsys):
    from client_fakes import fixture_bytes

    service_env.on(
        "GET", "/REST/v1/Dataflows/ListJobs", Reply(200, fixture_bytes("json/listjobs.json"))
    )

    assert cli.main(["jobs"]) == cli.EXIT_OK
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("ID") and len(table) == 4
    assert cli.main(["jobs", "--json"]) == cli.EXIT_OK
    assert [job["description"] for job in json.loads(capsys.readouterr().out)][1] == "Geocode"


# --- data source download ------------------------------------------------------------------------


def _datasource(service, status, links):
    create = "/REST/v1/Dataflows/DataSourceDownload/acc1/Stores"
    status_path = "/REST/v1/dataflows/DataSourceDownload/Stores"
    resource = {
        "id": "77776666555544443333222211110000",
        "status": "Pending",
        "links": [{"role": "self", "url": f"https://spatial.virtualearth.net{status_path}"}],
    }
    service.on("GET", create, json_reply(201, envelope(201, resource)))
    done = dict(
        resource,
        status=status,
        links=resource["links"]
        + [
            {
                "role": "output",
                "name": name,
                "url": f"https://spatial.virtualearth.net{status_path}/output/{name}",
            }
            for name in links
        ],
        errorMessage="bad" if status == "Aborted" else None,
    )
    service.on("GET", status_path, json_reply(200, envelope(200, done)))
    for name in links:
        service.on("GET", f"{status_path}/output/{name}", Reply(200, f"<{name}/>".encode()))


def test_datasource_download_writes_the_xml(service_env, tmp_path, capsys):
    _datasource(service_env, "Completed", ["succeeded"])

    code = cli.main(
        ["datasource-download", "acc1", "Stores", "--out", str(tmp_path), "--poll-seconds", "0.01"]
    )

    assert code == cli.EXIT_OK
    assert (tmp_path / "Stores.xml").read_bytes() == b"<succeeded/>"


def test_datasource_download_aborted_keeps_the_error_log(service_env, tmp_path, capsys):
    _datasource(service_env, "Aborted", ["failed"])

    code = cli.main(
        ["datasource-download", "acc1", "Stores", "--out", str(tmp_path), "--poll-seconds", "0.01"]
    )

    assert code == cli.EXIT_ABORTED
    assert (tmp_path / "Stores.errors.txt").read_bytes() == b"<failed/>"
    assert "aborted: bad" in capsys.readouterr().err


# --- optional components -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["emulator"], "dataflow_emulator.cli"),
        (["emulator", "--provider", "amazon-location"], "location_emulator.cli"),
        (["local", "demo"], "local_pipeline.cli"),
    ],
)
def test_optional_component_missing_says_install_the_extra(monkeypatch, capsys, argv, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail

    assert cli.main(argv) == cli.EXIT_USAGE
    assert "install the [local] extra" in capsys.readouterr().err


def test_emulator_arguments_are_passed_through(monkeypatch):
    seen = {}
    fake = types.ModuleType("dataflow_emulator.cli")
    fake.run_emulator = lambda args: seen.update(vars(args)) or 0
    monkeypatch.setitem(sys.modules, "dataflow_emulator.cli", fake)

    code = cli.main(
        [
            "emulator",
            "--port",
            "0",
            "--key",
            "a",
            "--key",
            "b",
            "--quirk",
            "ouput-link",
            "--processing-seconds",
            "0.5",
        ]
    )

    assert code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 0 and seen["key"] == ["a", "b"]
    assert seen["quirk"] == ["ouput-link"] and seen["processing_seconds"] == 0.5
    assert (seen["max_pending_jobs"], seen["max_jobs_per_day"], seen["retention_days"]) == (
        10,
        50,
        14,
    )


def test_local_run_arguments_are_passed_through(monkeypatch, feed):
    seen = {}
    fake = types.ModuleType("local_pipeline.cli")
    fake.run_local = lambda args: seen.update(vars(args)) or 3
    monkeypatch.setitem(sys.modules, "local_pipeline.cli", fake)

    assert cli.main(["local", "run", str(feed), "--out", "o", "--keep-running"]) == 3
    assert (
        seen["local_command"] == "run"
        and seen["file"] == str(feed)
        and seen["keep_running"] is True
    )


def fake_entry(monkeypatch, module, function):
    """Installs ``module.function`` recording the arguments it gets; returns what it saw."""
    seen = {}
    fake = types.ModuleType(module)
    setattr(fake, function, lambda args: seen.update(vars(args)) or 0)
    monkeypatch.setitem(sys.modules, module, fake)
    return seen


def test_emulator_amazon_location_arguments_are_passed_through(monkeypatch):
    seen = fake_entry(monkeypatch, "location_emulator.cli", "run_emulator")
    monkeypatch.setitem(sys.modules, "dataflow_emulator.cli", None)  # must not be loaded

    code = cli.main(
        [
            "emulator",
            "--provider",
            "amazon-location",
            "--rate-limit",
            "20",
            "--throttle-rate",
            "0.1",
            "--error-rate",
            "0.05",
            "--delay-seconds",
            "0.5",
            "--api-key",
            "a",
            "--api-key",
            "b",
            "--seed",
            "7",
        ]
    )

    assert code == 0
    assert (seen["host"], seen["port"], seen["seed"]) == ("127.0.0.1", 8787, 7)
    assert (seen["rate_limit"], seen["throttle_rate"], seen["error_rate"]) == (20.0, 0.1, 0.05)
    assert (seen["delay_seconds"], seen["delay_rate"], seen["api_key"]) == (0.5, 1.0, ["a", "b"])


def test_emulator_amazon_location_defaults(monkeypatch):
    seen = fake_entry(monkeypatch, "location_emulator.cli", "run_emulator")

    assert cli.main(["emulator", "--provider", "amazon-location"]) == 0
    assert (seen["rate_limit"], seen["throttle_rate"], seen["error_rate"]) == (100.0, 0.0, 0.0)
    assert (seen["delay_seconds"], seen["delay_rate"], seen["api_key"]) == (0.0, 1.0, [])


def test_emulator_default_provider_and_port(monkeypatch):
    seen = fake_entry(monkeypatch, "dataflow_emulator.cli", "run_emulator")

    assert cli.build_parser().parse_args(["emulator"]).provider == "bing-dataflow"
    assert cli.main(["emulator"]) == 0
    assert (seen["provider"], seen["port"], seen["key"], seen["quirk"]) == (
        "bing-dataflow",
        8080,
        [],
        [],
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--provider", "amazon-location", "--quirk", "x"],
            "--quirk applies to --provider bing-dataflow only",
        ),
        (
            ["--provider", "amazon-location", "--key", "k"],
            "--key applies to --provider bing-dataflow or azure-maps only",
        ),
        (
            ["--provider", "amazon-location", "--max-pending-jobs", "10"],
            "--max-pending-jobs applies to --provider bing-dataflow only",
        ),
        (
            ["--rate-limit", "5"],
            "--rate-limit applies to --provider amazon-location or azure-maps only",
        ),
        (["--api-key", "k"], "--api-key applies to --provider amazon-location only"),
    ],
)
def test_emulator_refuses_the_other_providers_options(monkeypatch, capsys, argv, message):
    for module in ("dataflow_emulator.cli", "location_emulator.cli"):
        monkeypatch.setitem(sys.modules, module, None)  # refused before any import

    assert cli.main(["emulator", *argv]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"geocode-dataflow: error: {message}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--provider", "amazon-web"],
        ["--throttle-rate", "1.5"],
        ["--delay-rate", "-0.1"],
        ["--delay-seconds", "-1"],
        ["--rate-limit", "0"],
    ],
)
def test_emulator_bad_values_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["emulator", *argv])

    assert exited.value.code == cli.EXIT_USAGE
    assert argv[0] in capsys.readouterr().err


def test_local_provider_options_parse(feed):
    parser = cli.build_parser()

    demo = parser.parse_args(["local", "demo"])
    run = parser.parse_args(
        ["local", "run", str(feed), "--out", "o", "--provider", "amazon-location"]
        + ["--requests-per-second", "20"]
    )

    assert (demo.provider, demo.requests_per_second) == ("bing-dataflow", None)
    assert (run.provider, run.requests_per_second) == ("amazon-location", 20.0)


def test_local_arguments_get_the_providers_defaults(monkeypatch):
    seen = fake_entry(monkeypatch, "local_pipeline.cli", "run_local")

    assert cli.main(["local", "demo"]) == 0
    assert (seen["provider"], seen["processing_seconds"]) == ("bing-dataflow", 2.0)
    assert cli.main(["local", "demo", "--provider", "amazon-location"]) == 0
    assert (seen["provider"], seen["processing_seconds"]) == ("amazon-location", None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--requests-per-second", "5"],
            "--requests-per-second applies to --provider amazon-location or azure-maps only",
        ),
        (
            ["--provider", "amazon-location", "--processing-seconds", "1"],
            "--processing-seconds applies to --provider bing-dataflow only",
        ),
    ],
)
def test_local_refuses_the_other_providers_options(monkeypatch, capsys, argv, message):
    monkeypatch.setitem(sys.modules, "local_pipeline.cli", None)

    assert cli.main(["local", "demo", *argv]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"geocode-dataflow: error: {message}"


def test_local_run_help_explains_the_file_and_the_providers(capsys):
    with pytest.raises(SystemExit):
        cli.main(["local", "run", "--help"])

    out = " ".join(capsys.readouterr().out.split())
    assert "FILE is a Data Schema v2.0 file" in out
    assert "--provider amazon-location the pipeline runs the job on its own job engine" in out
    assert "against the Amazon Location emulator" in out


def test_local_pipeline_options_follow_the_arguments():
    local_cli = pytest.importorskip("local_pipeline.cli")
    stack = pytest.importorskip("local_pipeline.stack")
    args = cli.build_parser().parse_args(
        ["local", "demo", "--provider", "amazon-location", "--requests-per-second", "20"]
    )

    options = stack.LocalPipelineOptions(**local_cli.option_values(args))

    assert (options.provider, options.requests_per_second) == ("amazon-location", 20.0)
    standalone = local_cli.option_values(argparse.Namespace(processing_seconds=0.5))
    assert standalone == {"provider": "bing-dataflow", "emulator_processing_seconds": 0.5}


# --- pieces --------------------------------------------------------------------------------------


def test_progress_line_rewrites_itself_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = ProgressLine(stream, clock=lambda: 0.0)
    progress.update(
        DataflowJob(id="j", status="Pending", total_entity_count=10, processed_entity_count=5)
    )
    progress.update(
        DataflowJob(id="j", status="Completed", total_entity_count=10, processed_entity_count=10)
    )
    progress.close()

    assert stream.getvalue() == (
        "\rjob j: Pending, 5/10 processed (50%), elapsed 0:00:00"
        "\rjob j: Completed, 10/10 processed (100%), elapsed 0:00:00\n"
    )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'\xef\xbb\xbf<?xml version="1.0"?>', "xml"),
        (b"Bing Spatial Data Services, 2.0\nId|GeocodeRequest/Query\n", "pipe"),
        (b"Bing Spatial Data Services, 2.0\nId\tGeocodeRequest/Query\n", "tab"),
        (b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n", "csv"),
        (b"", None),
        (b"Bing Spatial Data Services, 2.0\n", None),
    ],
)
def test_sniff_format(head, expected):
    assert sniff_format(head) == expected


# --- emulator --provider azure-maps ----------------------------------------------------------------


def test_emulator_azure_maps_arguments_are_passed_through(monkeypatch):
    seen = fake_entry(monkeypatch, "azure_maps_emulator.cli", "run_emulator")
    monkeypatch.setitem(sys.modules, "dataflow_emulator.cli", None)  # must not be loaded
    monkeypatch.setitem(sys.modules, "location_emulator.cli", None)

    code = cli.main(
        [
            "emulator", "--provider", "azure-maps", "--key", "a", "--key", "b",
            "--rate-limit", "20", "--throttle-rate", "0.1", "--error-rate", "0.05",
            "--timeout-rate", "0.02", "--delay-seconds", "0.5", "--delay-rate", "0.5",
            "--timeout-over-items", "50", "--seed", "7",
        ]
    )  # fmt: skip

    assert code == 0
    assert (seen["host"], seen["port"], seen["seed"], seen["key"]) == (
        "127.0.0.1",
        8788,
        7,
        ["a", "b"],
    )
    assert (seen["rate_limit"], seen["throttle_rate"], seen["error_rate"]) == (20.0, 0.1, 0.05)
    assert (seen["timeout_rate"], seen["delay_seconds"], seen["delay_rate"]) == (0.02, 0.5, 0.5)
    assert seen["timeout_over_items"] == 50


def test_emulator_azure_maps_defaults(monkeypatch):
    seen = fake_entry(monkeypatch, "azure_maps_emulator.cli", "run_emulator")

    assert cli.main(["emulator", "--provider", "azure-maps"]) == 0
    assert (seen["port"], seen["key"], seen["rate_limit"], seen["timeout_rate"]) == (
        8788,
        [],
        10.0,
        0.0,
    )
    assert (seen["throttle_rate"], seen["error_rate"]) == (0.0, 0.0)
    assert (seen["delay_seconds"], seen["delay_rate"], seen["timeout_over_items"]) == (
        0.0,
        1.0,
        None,
    )


def test_emulator_shared_options_keep_each_providers_default(monkeypatch):
    location = fake_entry(monkeypatch, "location_emulator.cli", "run_emulator")
    dataflow = fake_entry(monkeypatch, "dataflow_emulator.cli", "run_emulator")

    assert cli.main(["emulator", "--provider", "amazon-location"]) == 0
    assert cli.main(["emulator"]) == 0
    assert location["rate_limit"] == 100.0 and location["key"] is None
    assert dataflow["key"] == [] and dataflow["rate_limit"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--provider", "azure-maps", "--api-key", "k"],
            "--api-key applies to --provider amazon-location only",
        ),
        (
            ["--provider", "azure-maps", "--quirk", "x"],
            "--quirk applies to --provider bing-dataflow only",
        ),
        (
            ["--provider", "amazon-location", "--timeout-rate", "0.1"],
            "--timeout-rate applies to --provider azure-maps only",
        ),
        (
            ["--timeout-over-items", "5"],
            "--timeout-over-items applies to --provider azure-maps only",
        ),
        (
            ["--error-rate", "0.1"],
            "--error-rate applies to --provider amazon-location or azure-maps only",
        ),
    ],
)
def test_emulator_azure_maps_refuses_the_other_providers_options(
    monkeypatch, capsys, argv, message
):
    for module in ("dataflow_emulator.cli", "location_emulator.cli", "azure_maps_emulator.cli"):
        monkeypatch.setitem(sys.modules, module, None)  # refused before any import

    assert cli.main(["emulator", *argv]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"geocode-dataflow: error: {message}"


@pytest.mark.parametrize(
    "argv",
    [
        ["--provider", "azure-maps", "--timeout-rate", "1.5"],
        ["--provider", "azure-maps", "--timeout-over-items", "-1"],
        ["--provider", "azure-maps", "--timeout-over-items", "many"],
    ],
)
def test_emulator_azure_maps_bad_values_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["emulator", *argv])

    assert exited.value.code == cli.EXIT_USAGE
    assert argv[2] in capsys.readouterr().err


def test_emulator_azure_maps_missing_says_install_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "azure_maps_emulator.cli", None)  # makes the import fail

    assert cli.main(["emulator", "--provider", "azure-maps"]) == cli.EXIT_USAGE
    assert "install the [local] extra" in capsys.readouterr().err


# --- rough edges a new user found ----------------------------------------------------------------


def test_closed_stdout_ends_quietly_with_exit_0(tmp_path):
    """`geocode-dataflow convert big.txt --to csv | head -1`: no traceback, no error, exit 0."""
    big = tmp_path / "big.txt"
    header = PIPE.split(b"\n")[:2]
    rows = [b"%d|%d Main Street, Redmond, WA||" % (i, i) for i in range(20_000)]
    big.write_bytes(b"\n".join(header + rows) + b"\n")
    command = [sys.executable, "-m", "geocode_dataflow", "convert", str(big), "--to", "csv"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    first = child.stdout.readline()
    child.stdout.close()  # the reader goes away, as head does
    err = child.stderr.read()
    code = child.wait(timeout=120)

    assert first.startswith(b"Bing Spatial Data Services, 2.0")
    assert (code, err) == (0, b"")


def test_closed_stdout_keeps_the_commands_own_exit_code(monkeypatch, capsys):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    def handler(args):
        with cli.common.tolerate_closed_stdout():
            print("a summary nobody reads")
        return cli.EXIT_REJECTED

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.common.run_handler(handler, argparse.Namespace()) == cli.EXIT_REJECTED
    assert capsys.readouterr().err == ""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_one_error_line_without_urllib3_retry_warnings(
    monkeypatch, capsys, caplog
):
    from geocode_dataflow.client import transport

    monkeypatch.setattr(transport.BoundedRetry, "get_backoff_time", lambda self: 0.0)
    monkeypatch.setenv("BING_MAPS_KEY", SECRET_KEY)
    endpoint = f"http://127.0.0.1:{_closed_port()}/REST/v1/Dataflows"

    assert cli.main(["status", JOB_ID, "--endpoint", endpoint]) == cli.EXIT_UNAVAILABLE

    err = capsys.readouterr().err
    assert "Retrying" not in caplog.text + err
    assert err.startswith("geocode-dataflow: error: ") and len(err.splitlines()) == 1
    assert "connection refused" in err

    caplog.clear()
    assert cli.main(["status", JOB_ID, "--endpoint", endpoint, "-v"]) == cli.EXIT_UNAVAILABLE
    assert "Retrying" in caplog.text  # -v shows every retry
    capsys.readouterr()


# --- local run: what is refused before the pipeline starts ---------------------------------------


class PipelineStarted(Exception):
    """Raised by the stand-in LocalPipeline: the checks before it let the run through."""


@pytest.fixture
def local_tpl(monkeypatch):
    """local_pipeline.template, with a LocalPipeline that records the template it would use."""
    tpl = pytest.importorskip("local_pipeline.template")
    stack = pytest.importorskip("local_pipeline.stack")
    seen = {}

    def start(options):
        seen["template"] = tpl.load_template()
        raise PipelineStarted

    monkeypatch.setattr(stack, "LocalPipeline", start)
    monkeypatch.delenv(tpl.TEMPLATE_ENV, raising=False)
    tpl.seen = seen
    return tpl


CHECKOUT_TEMPLATE = """\
Resources:
  SubmitJobFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/submit_job/
      Events:
        SheetDropped:
          Type: S3
          Properties:
            Bucket: !Ref DataBucket
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: inbox/}, {Name: suffix, Value: .xlsx}]}}
"""


def checkout(folder, *, functions=True):
    """A project checkout somewhere else: a template that picks up .xlsx, and its functions."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.yaml").write_text(CHECKOUT_TEMPLATE)
    if functions:
        (folder / "functions" / "submit_job").mkdir(parents=True)
    return folder / "template.yaml"


@pytest.mark.parametrize("name", ["stores.Csv", "stores.docx"])
def test_local_run_refuses_a_name_the_s3_notification_ignores(local_tpl, tmp_path, capsys, name):
    source = tmp_path / name
    source.write_bytes(PIPE)

    assert cli.main(["local", "run", str(source), "--out", str(tmp_path / "o")]) == cli.EXIT_USAGE

    err = capsys.readouterr().err
    accepted = " ".join(local_tpl.accepted_suffixes(local_tpl.load_template()))
    assert ".csv" in accepted and ".CSV" in accepted
    assert err.startswith(
        f"geocode-dataflow: error: {name}: the pipeline picks up only files ending in "
        f"{accepted} (S3 suffix filters are case-sensitive); nothing was started"
    )
    assert ("; rename it to stores.csv" in err) == (name == "stores.Csv")
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_local_run_takes_the_accepted_names_from_the_template(local_tpl, tmp_path, capsys):
    template = checkout(tmp_path / "checkout")
    sheet, table = tmp_path / "stores.xlsx", tmp_path / "stores.csv"
    sheet.write_bytes(b"PK")
    table.write_bytes(PIPE)

    with pytest.raises(PipelineStarted):
        cli.main(["local", "run", str(sheet), "--out", "o", "--template", str(template)])
    assert local_tpl.seen["template"].path == template.resolve()
    code = cli.main(["local", "run", str(table), "--out", "o", "--template", str(template)])
    assert code == cli.EXIT_USAGE
    assert "picks up only files ending in .xlsx (" in capsys.readouterr().err


def test_local_run_finds_the_template_of_the_current_checkout(
    local_tpl, tmp_path, monkeypatch, feed
):
    template = checkout(tmp_path / "checkout")
    (tmp_path / "checkout" / "data").mkdir()
    monkeypatch.setattr(local_tpl, "TEMPLATE_PATH", tmp_path / "site-packages" / "template.yaml")
    monkeypatch.chdir(tmp_path / "checkout" / "data")
    sheet = tmp_path / "stores.xlsx"
    sheet.write_bytes(b"PK")

    with pytest.raises(PipelineStarted):
        cli.main(["local", "run", str(sheet), "--out", str(tmp_path / "o")])

    found = local_tpl.seen["template"]
    assert found.path == template.resolve()
    code_dir = local_tpl.functions(found)["SubmitJobFunction"].code_dir
    assert code_dir == tmp_path / "checkout" / "functions" / "submit_job"


def test_local_run_template_from_the_environment(local_tpl, tmp_path, monkeypatch):
    template = checkout(tmp_path / "checkout")
    monkeypatch.setenv(local_tpl.TEMPLATE_ENV, str(template))
    sheet = tmp_path / "stores.xlsx"
    sheet.write_bytes(b"PK")

    with pytest.raises(PipelineStarted):
        cli.main(["local", "run", str(sheet), "--out", str(tmp_path / "o")])
    assert local_tpl.seen["template"].path == template.resolve()


def test_local_run_without_a_template_says_where_it_looked(
    local_tpl, tmp_path, monkeypatch, capsys, feed
):
    monkeypatch.setattr(local_tpl, "TEMPLATE_PATH", tmp_path / "site-packages" / "template.yaml")
    monkeypatch.setattr(local_tpl, "REPO_ROOT", tmp_path / "site-packages")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    assert cli.main(["local", "run", str(feed), "--out", "o"]) == cli.EXIT_USAGE

    err = capsys.readouterr().err
    assert err.startswith("geocode-dataflow: error: cannot find the project's template.yaml: ")
    assert f"not in {tmp_path / 'elsewhere'} or any folder above it" in err
    assert f"nor in {tmp_path / 'site-packages'} (beside the package's sources" in err
    assert "pass --template PATH/template.yaml or set GEOCODE_DATAFLOW_TEMPLATE" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("how", ["option", "environment"])
def test_local_run_given_template_that_is_missing(
    local_tpl, tmp_path, monkeypatch, capsys, feed, how
):
    missing = tmp_path / "nope" / "template.yaml"
    argv = ["local", "run", str(feed), "--out", "o"]
    if how == "option":
        argv += ["--template", str(missing)]
        expected = f"--template {missing}: no such file"
    else:
        monkeypatch.setenv(local_tpl.TEMPLATE_ENV, str(missing))
        expected = f"GEOCODE_DATAFLOW_TEMPLATE={missing}: no such file"

    assert cli.main(argv) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"geocode-dataflow: error: {expected}"


def test_local_run_template_without_its_functions(local_tpl, tmp_path, capsys):
    template = checkout(tmp_path / "copy", functions=False)
    sheet = tmp_path / "stores.xlsx"
    sheet.write_bytes(b"PK")

    code = cli.main(["local", "run", str(sheet), "--out", "o", "--template", str(template)])

    assert code == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        f"geocode-dataflow: error: {template.resolve()} names function code that is not next "
        f"to it: {tmp_path / 'copy' / 'functions' / 'submit_job'}"
    )


# --- local run: the summary -----------------------------------------------------------------------


def _record(status, **fields):
    from geocode_dataflow.pipeline.jobs import InputObject, JobRecord

    return JobRecord(
        job_id="stores-0123",
        status=status,
        input=InputObject(bucket="b", key="inbox/stores.csv"),
        created_at="2026-11-16T09:00:00.000Z",
        updated_at="2026-11-16T09:00:00.000Z",
        **fields,
    )


def test_local_summary_shows_a_dash_for_what_the_file_does_not_have(tmp_path):
    local_cli = pytest.importorskip("local_pipeline.cli")
    succeeded = tmp_path / "succeeded.csv"
    succeeded.write_bytes(
        b"Bing Spatial Data Services, 2.0\n"
        b"Id,GeocodeRequest/Query,GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude\n"
        b"1,Paris,48.8534,2.3488\n"
    )
    out = io.StringIO()

    record = _record("COMPLETED", total_entities=1, succeeded_entities=1)
    local_cli._print_summary(
        record, [succeeded], tmp_path / "lambda-logs.jsonl", out, entities=True
    )

    text = out.getvalue()
    assert "None" not in text
    assert "1 total (- geocode, - reverse)" in text
    assert "48.8534,     2.3488    [-, -, -]" in text


def test_local_summary_is_the_match_table_and_entities_only_on_request(tmp_path):
    local_cli = pytest.importorskip("local_pipeline.cli")
    summary = {
        "rows": 4,
        "matched": 2,
        "no_match": 1,
        "failed": 1,
        "by_confidence": {"High": 2},
        "by_entity_type": {"Address": 1, "PopulatedPlace": 1},
    }
    succeeded = tmp_path / "succeeded.csv"
    succeeded.write_bytes(b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,Paris\n")
    out = io.StringIO()

    record = _record("COMPLETED", total_entities=4, summary=summary)
    local_cli._print_summary(record, [succeeded], tmp_path / "lambda-logs.jsonl", out)

    text = out.getvalue()
    assert "matched          2   50.0%" in text
    assert "no match         1   25.0%" in text
    assert "type       Address 1, PopulatedPlace 1" in text
    assert "succeeded.csv:" not in text and "(every entity: -v)" in text


def _rejection(folder, errors, total=None):
    path = folder / "rejection.json"
    report = {"error_count": total or len(errors), "errors": errors}
    path.write_text(json.dumps({"status": "REJECTED", "report": report}))
    return path


def test_local_summary_of_a_rejected_file_shows_every_error(tmp_path):
    local_cli = pytest.importorskip("local_pipeline.cli")
    errors = [
        {
            "code": "duplicate-id",
            "message": "the Id '1' is a duplicate",
            "line": 4,
            "entity_id": "1",
        },
        {"code": "missing-id", "message": "the entity has no Id", "line": 5},
        {"code": "malformed-row", "message": "a quoted value is never closed", "line": 6},
    ]
    rejection = _rejection(tmp_path, errors)
    record = _record("REJECTED", error={"type": "InvalidFeedError", "message": "first only"})
    out = io.StringIO()

    local_cli._print_summary(record, [rejection], tmp_path / "logs.jsonl", out)

    lines = out.getvalue().splitlines()
    start = lines.index("  3 file-level error(s):")
    assert lines[start + 1 : start + 4] == [
        "    line 4, entity '1': [duplicate-id] the Id '1' is a duplicate",
        "    line 5: [missing-id] the entity has no Id",
        "    line 6: [malformed-row] a quoted value is never closed",
    ]
    assert "first only" not in out.getvalue()


def test_local_summary_of_many_errors_shows_twenty_and_counts_the_rest(tmp_path):
    local_cli = pytest.importorskip("local_pipeline.cli")
    errors = [{"code": "missing-id", "message": "no Id", "line": n} for n in range(3, 103)]
    rejection = _rejection(tmp_path, errors, total=250)
    out = io.StringIO()

    local_cli._print_summary(_record("REJECTED"), [rejection], tmp_path / "logs.jsonl", out)

    text = out.getvalue()
    assert "  250 file-level error(s):" in text
    assert text.count("[missing-id]") == local_cli.SHOWN_ERRORS == 20
    assert f"    ... and 230 more; see {rejection}\n" in text


def test_local_summary_of_a_file_never_validated_gives_the_reason(tmp_path):
    local_cli = pytest.importorskip("local_pipeline.cli")
    rejection = tmp_path / "rejection.json"
    rejection.write_text(json.dumps({"report": {"validation_attempts": 3, "last_error": None}}))
    record = _record(
        "REJECTED", error={"type": "ValidationAbandonedError", "message": "3 attempts"}
    )
    out = io.StringIO()

    local_cli._print_summary(record, [rejection], tmp_path / "logs.jsonl", out)

    assert "  reason: 3 attempts\n" in out.getvalue()
