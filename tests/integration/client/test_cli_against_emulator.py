"""geocode-dataflow (in-process) end to end against the Dataflow emulator over real HTTP."""

from __future__ import annotations

import pytest
from dataflow_emulator import (
    QUIRKS,
    EmulatorConfig,
    EmulatorServer,
    FaultConfig,
    sample_data_source,
)
from geocode_dataflow import cli
from geocode_dataflow.client import DataflowClient
from geocode_dataflow.errors import ServiceUnavailableError
from geocode_dataflow.schema import open_feed

pytestmark = pytest.mark.integration

KEY = "IntegrationKey-7c1d0e9a3b5f4e21-Secret"
FEED = (
    "Bing Spatial Data Services, 2.0\n"
    "Id,GeocodeRequest/Culture,GeocodeRequest/Query,GeocodeRequest/Address/AddressLine,"
    "GeocodeRequest/Address/Locality,GeocodeRequest/Address/AdminDistrict,"
    "GeocodeRequest/Address/PostalCode,GeocodeRequest/Address/CountryRegion,"
    "ReverseGeocodeRequest/Location/Latitude,ReverseGeocodeRequest/Location/Longitude\n"
    "1,en-US,,1 Microsoft Way,Redmond,WA,98052,United States,,\n"
    "2,en-US,Space Needle Seattle WA,,,,,,,\n"
    "3,en-US,,,,,,,,\n"
    "4,en-US,,,,,,,47.64,-122.13\n"
)


def ids(path) -> list[str]:
    with open_feed(str(path)) as feed:
        return sorted(entity.id for entity in feed)


@pytest.fixture
def feed(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text(FEED, encoding="utf-8")
    return path


def test_cli_run_validates_uploads_polls_and_downloads(feed, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    with EmulatorServer(EmulatorConfig(keys={KEY}, processing_seconds=0.5)) as emulator:
        monkeypatch.setenv("BING_MAPS_KEY", KEY)
        monkeypatch.setenv("DATAFLOW_ENDPOINT", emulator.base_url)

        code = cli.main(
            ["run", str(feed), "--out", str(out), "--poll-seconds", "0.2", "--timeout", "30"]
        )

        state = emulator.state.to_dict()

    captured = capsys.readouterr()
    assert code == cli.EXIT_OK, captured.err
    assert ids(out / "succeeded.csv") == ["1", "2", "4"]
    assert ids(out / "failed.csv") == ["3"]
    assert state["jobs_created"] == 1
    assert "status:       Completed" in captured.out
    assert KEY not in captured.out + captured.err


def test_client_survives_quirks_refusals_and_injected_faults(feed, tmp_path):
    """Every emulated quirk on; half the creates refused with 503 JobUsageQuota; 30 % of status
    and download calls answered 500/503 or dropped. One job, complete results, all the same."""
    faults = FaultConfig(
        quota_rate=0.5,
        error_rate={"status": 0.3, "download": 0.3},
        reset_rate={"status": 0.1},
    )
    config = EmulatorConfig(
        keys={KEY}, processing_seconds=0.3, quirks=set(QUIRKS), faults=faults, seed=7
    )
    with EmulatorServer(config) as emulator:
        client = DataflowClient(KEY, emulator.base_url, retries=6, backoff_factor=0.02)
        with client:
            job = client.create_job(feed.read_bytes(), "csv", description="faults")
            job = client.wait_for_job(job, poll_seconds=0.1, timeout=30)
            for which in ("succeeded", "failed"):
                with open(tmp_path / f"{which}.csv", "wb") as sink:
                    client.download_results(job, which, sink)
        state = emulator.state.to_dict()

    assert job.is_completed and job.failed_entity_count == 1
    assert ids(tmp_path / "succeeded.csv") == ["1", "2", "4"]
    assert ids(tmp_path / "failed.csv") == ["3"]
    assert state["jobs_created"] == 1
    assert sum(state["faults_injected"].values()) > 0


def test_cli_datasource_download_against_the_emulator(tmp_path, monkeypatch, capsys):
    source = sample_data_source()
    with EmulatorServer(EmulatorConfig(keys={KEY}, processing_seconds=0.2)) as emulator:
        monkeypatch.setenv("BING_MAPS_KEY", KEY)
        monkeypatch.setenv("DATAFLOW_ENDPOINT", emulator.base_url)

        code = cli.main(
            [
                "datasource-download",
                source.access_id,
                source.name,
                "--out",
                str(tmp_path),
                "--poll-seconds",
                "0.1",
                "--timeout",
                "30",
            ]
        )

    assert code == cli.EXIT_OK, capsys.readouterr().err
    body = (tmp_path / f"{source.name}.xml").read_text(encoding="utf-8")
    assert "<MainRoot" in body and source.entity_type in body


def test_cli_status_jobs_and_download_against_the_emulator(feed, tmp_path, monkeypatch, capsys):
    with EmulatorServer(EmulatorConfig(keys={KEY}, processing_seconds=0.2)) as emulator:
        monkeypatch.setenv("BING_MAPS_KEY", KEY)
        monkeypatch.setenv("DATAFLOW_ENDPOINT", emulator.base_url)
        assert (
            cli.main(["run", str(feed), "--out", str(tmp_path / "a"), "--poll-seconds", "0.1"]) == 0
        )
        capsys.readouterr()

        assert cli.main(["jobs", "--json"]) == cli.EXIT_OK
        import json

        (job,) = json.loads(capsys.readouterr().out)
        assert job["status"] == "Completed" and job["description"] == "addresses.csv"

        assert cli.main(["status", job["id"]]) == cli.EXIT_OK
        assert cli.main(["download", job["id"], "--out", str(tmp_path / "b")]) == cli.EXIT_OK
        assert cli.main(["status", job["id"], "--key", "not-the-key"]) == cli.EXIT_REJECTED

    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["failed.csv", "succeeded.csv"]
    assert (tmp_path / "b" / "succeeded.csv").read_bytes() == (
        tmp_path / "a" / "succeeded.csv"
    ).read_bytes()


def test_client_does_not_resend_a_create_whose_answer_was_lost(feed):
    """The emulator creates the job, then drops the connection: the client must not POST again
    (a second, billable job); it says the job may exist, and ListJobs finds it by description."""
    faults = FaultConfig(lost_response_rate={"create": 1.0})
    with EmulatorServer(
        EmulatorConfig(keys={KEY}, processing_seconds=0.2, faults=faults)
    ) as emulator:
        with DataflowClient(KEY, emulator.base_url, retries=3, backoff_factor=0.01) as client:
            with pytest.raises(ServiceUnavailableError, match="may have been created"):
                client.create_job(feed.read_bytes(), "csv", description="lost-answer-1")
            found = [job for job in client.list_jobs() if job.description == "lost-answer-1"]
        state = emulator.state.to_dict()

    assert state["jobs_created"] == 1 and state["calls"]["create"] == 1
    assert len(found) == 1
