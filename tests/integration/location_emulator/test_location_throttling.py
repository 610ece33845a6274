"""Rate limit, injected faults and concurrency, seen by boto3 over real HTTP."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from location_emulator import FaultConfig, max_in_window
from location_emulator.faults import FaultInjector
from location_http_support import NO_RETRIES, places_client

pytestmark = pytest.mark.integration


def outcome(call, **params):
    try:
        call(**params)
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "OK"


def seed_where(faults, wanted):
    """A seed whose first calls get exactly the faults ``wanted`` (True = fault)."""
    for seed in range(10_000):
        injector = FaultInjector(faults, seed)
        calls = [injector.for_call() for _ in wanted]
        if [c.throttle or c.error for c in calls] == wanted:
            return seed
    raise AssertionError("no such seed")


def test_throttling_over_the_limit_across_both_operations(start_location_emulator):
    server = start_location_emulator(rate_limit=5)
    client = places_client(server, **NO_RETRIES)
    results = []
    for index in range(20):
        if index % 2:
            results.append(outcome(client.reverse_geocode, QueryPosition=[-104.99, 39.74]))
        else:
            results.append(outcome(client.geocode, QueryText="Denver, CO"))
    assert set(results) == {"OK", "ThrottlingException"}
    state = server.state
    throttled = results.count("ThrottlingException")
    assert state.requests == {"Geocode": 10, "ReverseGeocode": 10}
    assert state.accepted == results.count("OK") == state.succeeded
    assert state.throttled == state.rate_limited == throttled == state.errors[429]
    assert state.accepted + state.throttled == 20
    assert 5 <= state.accepted < 20
    assert state.max_accepted_per_second <= 5
    assert max_in_window(state.accepted_timestamps) == state.max_accepted_per_second


def test_throttling_holds_under_concurrency(start_location_emulator):
    server = start_location_emulator(rate_limit=10)
    client = places_client(server, max_pool_connections=32, **NO_RETRIES)
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(
            pool.map(lambda _: outcome(client.geocode, QueryText="Boise, ID"), range(48))
        )
    state = server.state
    assert set(results) <= {"OK", "ThrottlingException"}
    assert state.accepted == results.count("OK") and state.accepted >= 10
    assert state.accepted + state.rate_limited == 48
    assert state.max_accepted_per_second <= 10
    assert max_in_window(state.accepted_timestamps) == state.max_accepted_per_second


def test_throttled_call_is_retried_by_default(start_location_emulator):
    faults = FaultConfig(throttle_rate=0.5)
    server = start_location_emulator(faults=faults, seed=seed_where(faults, [True, False]))
    answer = places_client(server).geocode(QueryText="Denver, CO")  # botocore's default retries
    assert answer["ResultItems"]
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    state = server.state
    assert state.requests == {"Geocode": 2}
    assert state.faults == {"throttle": 1} and state.throttled == 1 and state.rate_limited == 0


def test_injected_internal_server_error(start_location_emulator):
    server = start_location_emulator(faults=FaultConfig(error_rate=1.0))
    client = places_client(server, **NO_RETRIES)
    with pytest.raises(client.exceptions.InternalServerException) as caught:
        client.reverse_geocode(QueryPosition=[-104.99, 39.74])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert server.state.errors == {500: 1} and server.state.faults == {"error": 1}
    server.set_faults(FaultConfig())
    assert client.reverse_geocode(QueryPosition=[-104.99, 39.74])["ResultItems"]


def test_injected_error_is_retried_by_default(start_location_emulator):
    faults = FaultConfig(error_rate=0.5)
    server = start_location_emulator(faults=faults, seed=seed_where(faults, [True, False]))
    answer = places_client(server).reverse_geocode(QueryPosition=[-104.99, 39.74])
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert server.state.errors == {500: 1} and server.state.accepted == 2


def test_injected_delay(start_location_emulator):
    server = start_location_emulator(faults=FaultConfig(delay_seconds=0.3))
    client = places_client(server, **NO_RETRIES)
    started = time.monotonic()
    assert client.geocode(QueryText="Boise, ID")["ResultItems"]
    assert time.monotonic() - started >= 0.3
    assert server.state.faults == {"delay": 1}
    server.set_faults(FaultConfig(delay_seconds=0.3, delay_rate=0.0))
    started = time.monotonic()
    client.geocode(QueryText="Boise, ID")
    assert time.monotonic() - started < 0.3
