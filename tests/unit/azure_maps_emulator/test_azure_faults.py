"""Injected faults: seeded 429/5xx/408 and delays, the 60-second limit, timeout_over_items."""

import time

import pytest
from azure_maps_emulator import FaultConfig
from azure_maps_emulator.faults import FaultInjector

DENVER = {"query": "Denver, CO"}


def statuses(maps, count, items=(DENVER,)):
    return [maps.geocode(list(items)).status_code for _ in range(count)]


def test_faults_same_seed_same_faults(make_maps):
    faults = FaultConfig(throttle_rate=0.2, error_rate=0.2, timeout_rate=0.2)
    first = statuses(make_maps(faults=faults, seed=7), 40)
    assert first == statuses(make_maps(faults=faults, seed=7), 40)
    assert first != statuses(make_maps(faults=faults, seed=8), 40)
    assert {200, 429, 408} <= set(first) and set(first) & {500, 503}


def test_faults_changing_one_rate_does_not_reshuffle_the_others():
    def throttled(faults):
        injector = FaultInjector(faults, 3)
        return [injector.for_call().throttle for _ in range(50)]

    assert throttled(FaultConfig(throttle_rate=0.3)) == throttled(
        FaultConfig(throttle_rate=0.3, delay_seconds=1.0, delay_rate=0.5)
    )


def test_faults_error_is_500_or_503_with_the_error_response(make_maps):
    maps = make_maps(faults=FaultConfig(error_rate=1.0))
    answers = [maps.reverse([{"coordinates": [0, 0]}]) for _ in range(30)]
    assert {a.status_code for a in answers} == {500, 503}
    for answer in answers:
        code = {500: "InternalServerError", 503: "ServiceUnavailable"}[answer.status_code]
        assert answer.json["error"]["code"] == code == answer.headers["x-ms-error-code"]
    assert maps.app.state.faults == {"error": 30}
    assert sum(maps.app.state.errors.values()) == 30


def test_faults_error_statuses_are_configurable(make_maps):
    maps = make_maps(faults=FaultConfig(error_rate=1.0, error_statuses=(502,)))
    assert set(statuses(maps, 5)) == {502}


def test_faults_injected_throttle_is_a_429_that_uses_no_quota(make_maps):
    maps = make_maps(rate_limit=1, faults=FaultConfig(throttle_rate=1.0))
    answer = maps.geocode([DENVER])
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    maps.app.set_faults(FaultConfig())
    assert maps.geocode([DENVER]).status_code == 200  # the window was still empty
    state = maps.app.state
    assert state.faults == {"throttle": 1} and state.throttled == 1 and state.rate_limited == 0


def test_faults_timeout_rate_is_408(make_maps):
    maps = make_maps(faults=FaultConfig(timeout_rate=1.0))
    answer = maps.geocode([DENVER])
    assert answer.status_code == 408
    assert answer.json["error"]["code"] == "Timeout"
    assert "maximum amount of time" in answer.json["error"]["message"]
    assert maps.app.state.faults == {"timeout": 1}


def test_faults_delay(make_maps):
    maps = make_maps(faults=FaultConfig(delay_seconds=0.2))
    started = time.monotonic()
    assert maps.geocode([DENVER]).status_code == 200
    assert time.monotonic() - started >= 0.2
    maps.app.set_faults(FaultConfig(delay_seconds=0.2, delay_rate=0.0))
    started = time.monotonic()
    assert maps.geocode([DENVER]).status_code == 200
    assert time.monotonic() - started < 0.2
    assert maps.app.state.faults == {"delay": 1}


def test_faults_delay_past_the_time_limit_is_408_at_the_limit(make_maps):
    maps = make_maps(request_timeout_seconds=0.1, faults=FaultConfig(delay_seconds=5.0))
    started = time.monotonic()
    assert maps.geocode([DENVER]).status_code == 408
    assert 0.1 <= time.monotonic() - started < 2.0
    assert maps.app.state.faults == {"delay": 1, "timeout": 1}


def test_faults_timeout_over_items_forces_408_above_n(make_maps):
    maps = make_maps(faults=FaultConfig(timeout_over_items=4))
    assert maps.geocode([DENVER] * 5).status_code == 408
    assert maps.geocode([DENVER] * 4).status_code == 200
    # The client's "split the batch in half and retry" then gets through.
    assert maps.reverse([{"coordinates": [0, 0]}] * 8).status_code == 408
    halves = [maps.reverse([{"coordinates": [0, 0]}] * 4).status_code for _ in range(2)]
    assert halves == [200, 200]
    state = maps.app.state
    assert state.faults == {"timeout_over_items": 2}
    assert state.items == {"geocode:batch": 4, "reverseGeocode:batch": 8}
    maps.app.set_faults(FaultConfig())
    assert maps.geocode([DENVER] * 5).status_code == 200


def test_faults_timeout_over_zero_times_out_every_batch(make_maps):
    maps = make_maps(faults=FaultConfig(timeout_over_items=0))
    assert maps.geocode([DENVER]).status_code == 408


def test_faults_do_not_hit_unauthenticated_calls(make_maps):
    maps = make_maps(faults=FaultConfig(error_rate=1.0))
    assert maps.geocode([DENVER], key="bad").status_code == 401
    assert maps.app.state.faults == {}


@pytest.mark.parametrize(
    "settings",
    [
        {"error_rate": 1.5},
        {"timeout_rate": -0.1},
        {"throttle_rate": 2},
        {"delay_rate": -1},
        {"delay_seconds": -1},
        {"delay_seconds": float("inf")},
        {"timeout_over_items": -1},
        {"error_statuses": ()},
        {"error_statuses": (404,)},
    ],
)
def test_faults_config_refuses_nonsense(settings):
    with pytest.raises(ValueError):
        FaultConfig(**settings)
