"""Injected faults: reproducible with a seed, each kind doing what it says."""

import time

import pytest
from dataflow_emulator import EmulatorConfig, FaultConfig
from dataflow_emulator.faults import FaultInjector
from dataflow_emulator.state import EmulatorState
from emulator_unit_support import GEOCODE_PATH


def _decisions(seed: int, count: int = 200) -> list:
    faults = FaultConfig(
        error_rate={"*": 0.2}, reset_rate={"status": 0.1}, lost_response_rate={"create": 0.1}
    )
    injector = FaultInjector(faults, seed, EmulatorState())
    return [injector.for_call(endpoint) for endpoint in ["create", "status", "download"] * count]


def test_fault_injection_is_reproducible_for_a_seed():
    assert _decisions(7) == _decisions(7)
    assert _decisions(7) != _decisions(8)
    decisions = _decisions(7)
    errors = sum(1 for d in decisions if d.error_status)
    assert 0.1 < errors / len(decisions) < 0.3
    assert {d.error_status for d in decisions if d.error_status} == {500, 503}
    assert any(d.reset for d in decisions) and any(d.lose_response for d in decisions)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"error_rate": {"nope": 0.1}}, "unknown endpoint"),
        ({"reset_rate": {"status": 1.5}}, "fraction"),
        ({"abort_rate": -0.1}, "fraction"),
        ({"delay_seconds": -1}, "negative"),
    ],
)
def test_fault_config_rejects_nonsense(settings, message):
    with pytest.raises(ValueError, match=message):
        FaultConfig(**settings)


def test_fault_config_round_trips_through_json_shapes():
    faults = FaultConfig(error_rate={"status": 0.5}, error_statuses=(503,), abort_rate=0.25)
    assert FaultConfig.from_dict(faults.to_dict()) == faults


def test_error_rate_applies_only_to_its_endpoint(make_api):
    api = make_api(faults=FaultConfig(error_rate={"status": 1.0}, error_statuses=(500,)))
    job = api.created_job()
    response = api.get(job["links"][0]["url"])
    assert response.status_code == 500
    assert response.get_json()["errorDetails"]


def test_aborted_jobs_carry_an_error_message_and_no_links(make_api):
    api = make_api(faults=FaultConfig(abort_rate=1.0))
    job = api.status(api.created_job())
    assert job["status"] == "Aborted"
    assert job["errorMessage"]
    assert [link["role"] for link in job["links"]] == ["self"]


def test_vanishing_jobs_are_404_once_they_would_complete(make_api):
    api = make_api(processing_seconds=10, faults=FaultConfig(vanish_rate=1.0))
    job = api.created_job()
    assert api.status(job)["status"] == "Pending"
    api.advance(11)
    assert api.get(job["links"][0]["url"]).status_code == 404


def test_stuck_jobs_stay_pending(make_api):
    api = make_api(faults=FaultConfig(stuck_rate=1.0))
    job = api.created_job()
    api.advance(30 * 86400 - 60)
    status = api.status(job)
    assert status["status"] == "Pending"
    assert status["processedEntityCount"] < status["totalEntityCount"]


def test_processing_seconds_override_and_quota_refusals(make_api):
    api = make_api(faults=FaultConfig(processing_seconds=100))
    job = api.created_job()
    api.advance(50)
    assert api.status(job)["status"] == "Pending"
    api.app.set_faults(FaultConfig(quota_rate=1.0))
    refused = api.create()
    assert refused.status_code == 503
    assert refused.get_json()["errorDetails"][0].startswith("JobUsageQuota:")


def test_delay_slows_calls_down(make_api):
    api = make_api(faults=FaultConfig(delay_seconds=0.2))
    started = time.perf_counter()
    api.get(f"{GEOCODE_PATH}/00000000000000000000000000000000")
    assert time.perf_counter() - started >= 0.2
    assert api.app.state.faults_injected["delay"] == 1


def test_reset_outside_waitress_degrades_to_an_empty_500(make_api):
    api = make_api(faults=FaultConfig(reset_rate={"create": 1.0}))
    response = api.create()
    assert response.status_code == 500 and response.get_data() == b""
    assert api.app.state.jobs_created == 0


def test_emulator_config_validates_limits():
    with pytest.raises(ValueError):
        EmulatorConfig(keys={"k"}, max_pending_jobs=0)
    with pytest.raises(ValueError):
        EmulatorConfig(keys={"k"}, min_city_population=123)
