"""The rate limit: 10 requests per sliding second by default, both operations, 429 above it."""

import pytest
from azure_maps_emulator import AzureMapsEmulatorApp, AzureMapsEmulatorConfig
from emulator_support.limits import max_in_window

DENVER = [{"query": "Denver, CO"}]
REVERSE = [{"coordinates": [-104.99, 39.74]}]


def test_limits_default_is_10_per_second(geocoder):
    app = AzureMapsEmulatorApp(AzureMapsEmulatorConfig(), geocoder=geocoder)
    assert app.state.limiter.capacity == 10
    assert app.stats["rate_limit"] == 10


def test_limits_429_across_both_operations(make_maps):
    maps = make_maps(rate_limit=2)
    statuses = [maps.geocode(DENVER).status_code, maps.reverse(REVERSE).status_code]
    statuses += [maps.geocode(DENVER).status_code, maps.reverse(REVERSE).status_code]
    assert statuses == [200, 200, 429, 429]
    state = maps.app.state
    assert state.accepted == 2 and state.rate_limited == 2 == state.throttled
    assert state.errors == {429: 2}
    assert state.max_accepted_per_second == 2
    assert max_in_window(state.accepted_timestamps) == 2


def test_limits_429_body_and_retry_after(make_maps):
    maps = make_maps(rate_limit=1)
    maps.geocode(DENVER)
    answer = maps.geocode(DENVER)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["x-ms-error-code"] == "TooManyRequests"
    assert answer.json == {
        "error": {
            "code": "TooManyRequests",
            "message": "Rate limit is exceeded. Try again in 1 seconds.",
        }
    }


def test_limits_retry_after_can_be_left_out(make_maps):
    maps = make_maps(rate_limit=1, retry_after_seconds=None)
    maps.geocode(DENVER)
    answer = maps.geocode(DENVER)
    assert answer.status_code == 429 and "Retry-After" not in answer.headers


def test_limits_the_rate_limit_counts_requests_not_items(make_maps):
    maps = make_maps(rate_limit=1)
    assert maps.geocode(DENVER * 100).status_code == 200
    assert maps.app.state.items == {"geocode:batch": 100}


def test_limits_unauthenticated_calls_use_no_quota(make_maps):
    maps = make_maps(rate_limit=1)
    assert maps.geocode(DENVER, key="bad").status_code == 401
    assert maps.geocode(DENVER).status_code == 200
    assert maps.app.state.accepted == 1


def test_limits_bad_requests_do_use_the_quota(make_maps):
    # Accepted = let through by the limiter: the service has already done the work of reading it.
    maps = make_maps(rate_limit=1)
    assert maps.geocode(raw="{oops").status_code == 400
    assert maps.geocode(DENVER).status_code == 429


def test_limits_set_rate_limit_at_runtime(make_maps):
    maps = make_maps(rate_limit=1)
    maps.geocode(DENVER)
    assert maps.geocode(DENVER).status_code == 429
    maps.app.set_rate_limit(None)
    assert [maps.geocode(DENVER).status_code for _ in range(5)] == [200] * 5
    maps.app.set_rate_limit(2)
    assert maps.geocode(DENVER).status_code == 429


@pytest.mark.parametrize("rate", [0.5, -1, float("nan")])
def test_limits_refuse_a_rate_below_one_per_second(rate):
    with pytest.raises(ValueError):
        AzureMapsEmulatorConfig(rate_limit=rate)
