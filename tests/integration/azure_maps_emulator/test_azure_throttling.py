"""Rate limit, injected faults, 408s and concurrency, seen by azure-maps-search over real HTTP."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.core.exceptions import HttpResponseError
from azure_http_support import maps_client
from azure_maps_emulator import FaultConfig
from azure_maps_emulator.faults import FaultInjector
from emulator_support.limits import max_in_window

pytestmark = pytest.mark.integration

DENVER = {"batchItems": [{"query": "Denver, CO"}]}
REVERSE = {"batchItems": [{"coordinates": [-104.99, 39.74]}]}


def outcome(call, body):
    try:
        call(body)
    except HttpResponseError as error:
        return error.status_code
    return 200


def seed_where(faults, wanted):
    """A seed whose first calls get exactly the faults ``wanted`` (True = a fault)."""
    for seed in range(10_000):
        injector = FaultInjector(faults, seed)
        calls = [injector.for_call() for _ in wanted]
        if [c.throttle or c.error_status is not None for c in calls] == wanted:
            return seed
    raise AssertionError("no such seed")


def test_throttling_over_the_default_limit_across_both_operations(azure_emulator):
    client = maps_client(azure_emulator)
    results = [
        outcome(client.get_reverse_geocoding_batch, REVERSE)
        if index % 2
        else outcome(client.get_geocoding_batch, DENVER)
        for index in range(24)
    ]
    assert set(results) == {200, 429}
    state = azure_emulator.state
    assert state.requests == {"geocode:batch": 12, "reverseGeocode:batch": 12}
    assert state.accepted == results.count(200) == state.succeeded
    assert state.throttled == state.rate_limited == results.count(429) == state.errors[429]
    assert 10 <= state.accepted < 24
    assert state.max_accepted_per_second <= 10
    assert max_in_window(state.accepted_timestamps) == state.max_accepted_per_second


def test_throttling_429_carries_retry_after(start_azure_emulator):
    server = start_azure_emulator(rate_limit=1)
    client = maps_client(server)
    client.get_geocoding_batch(DENVER)
    with pytest.raises(HttpResponseError) as caught:
        client.get_geocoding_batch(DENVER)
    error = caught.value
    assert error.status_code == 429 and error.error.code == "TooManyRequests"
    assert error.response.headers["Retry-After"] == "1"


def test_throttling_holds_under_concurrency(start_azure_emulator):
    server = start_azure_emulator(rate_limit=10)
    client = maps_client(server, connection_timeout=10)
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda _: outcome(client.get_geocoding_batch, DENVER), range(48)))
    state = server.state
    assert set(results) <= {200, 429}
    assert state.accepted == results.count(200) and state.accepted >= 10
    assert state.accepted + state.rate_limited == 48
    assert state.max_accepted_per_second <= 10
    assert max_in_window(state.accepted_timestamps) == state.max_accepted_per_second


def test_sdk_retries_a_throttle_after_retry_after(start_azure_emulator):
    faults = FaultConfig(throttle_rate=0.5)
    server = start_azure_emulator(
        faults=faults, seed=seed_where(faults, [True, False]), retry_after_seconds=0
    )
    answer = maps_client(server, retries=True).get_geocoding_batch(DENVER)
    assert answer["batchItems"][0]["features"]
    state = server.state
    assert state.requests == {"geocode:batch": 2}
    assert state.faults == {"throttle": 1} and state.throttled == 1 and state.rate_limited == 0


def test_sdk_retries_an_injected_5xx(start_azure_emulator):
    faults = FaultConfig(error_rate=0.5)
    server = start_azure_emulator(faults=faults, seed=seed_where(faults, [True, False]))
    client = maps_client(server, retries=True, retry_backoff_factor=0.01)
    assert client.get_reverse_geocoding_batch(REVERSE)["summary"]["successfulRequests"] == 1
    assert sum(server.state.errors.values()) == 1 and server.state.accepted == 2


def test_injected_5xx_and_408_without_retries(start_azure_emulator):
    server = start_azure_emulator(faults=FaultConfig(error_rate=1.0))
    client = maps_client(server)
    assert outcome(client.get_geocoding_batch, DENVER) in (500, 503)
    server.set_faults(FaultConfig(timeout_rate=1.0))
    assert outcome(client.get_geocoding_batch, DENVER) == 408
    server.set_faults(FaultConfig())
    assert outcome(client.get_geocoding_batch, DENVER) == 200
    assert server.state.faults == {"error": 1, "timeout": 1}


def geocode_halving(client, items):
    """What a client does with a 408 (reference §8.1): split the batch in half and retry."""
    try:
        return client.get_geocoding_batch({"batchItems": items})["batchItems"]
    except HttpResponseError as error:
        if error.status_code != 408 or len(items) == 1:
            raise
    middle = len(items) // 2
    return geocode_halving(client, items[:middle]) + geocode_halving(client, items[middle:])


def test_timeout_over_items_drives_split_in_half(start_azure_emulator):
    server = start_azure_emulator(rate_limit=None, faults=FaultConfig(timeout_over_items=25))
    queries = ["Denver, CO", "Boise, ID", "Redmond, WA", "Paris, France"] * 25
    items = [{"query": q, "top": 1, "optionalId": str(i)} for i, q in enumerate(queries)]
    # azure-core's default retries leave a 408 on a POST alone (no Retry-After): the caller splits.
    answers = geocode_halving(maps_client(server, retries=True), items)
    assert [a["optionalId"] for a in answers] == [str(i) for i in range(100)]
    assert answers[3]["features"][0]["properties"]["address"]["locality"] == "Paris"
    state = server.state
    # 100 -> 2 x 50 -> 4 x 25: three 408s, four batches answered.
    assert state.faults == {"timeout_over_items": 3}
    assert state.errors == {408: 3} and state.succeeded == 4
    assert state.items == {"geocode:batch": 100}


def test_slow_batch_past_the_time_limit_is_408(start_azure_emulator):
    server = start_azure_emulator(
        request_timeout_seconds=0.2, faults=FaultConfig(delay_seconds=30.0)
    )
    started = time.monotonic()
    assert outcome(maps_client(server).get_geocoding_batch, DENVER) == 408
    assert 0.2 <= time.monotonic() - started < 5
    server.set_faults(FaultConfig(delay_seconds=0.1))
    assert outcome(maps_client(server).get_geocoding_batch, DENVER) == 200
    assert server.state.faults == {"delay": 2, "timeout": 1}
