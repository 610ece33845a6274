"""The sliding-window quota, on a fake clock."""

import pytest
from emulator_support.limits import window_capacity
from location_emulator import LocationEmulatorConfig, SlidingWindowLimiter, max_in_window


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_admits_at_most_capacity_in_one_second():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, clock=clock)
    outcomes = [limiter.try_admit() is not None for _ in range(5)]
    assert outcomes == [True, True, True, False, False]
    assert limiter.max_in_window == 3


def test_limiter_window_slides_and_refusals_do_not_count():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock=clock)
    assert limiter.try_admit() == 1000.0
    clock.now = 1000.6
    assert limiter.try_admit() == 1000.6
    clock.now = 1000.9
    assert limiter.try_admit() is None  # two in (999.9, 1000.9]
    clock.now = 1001.0
    # The first left the window exactly one second later; the refusal took no place.
    assert limiter.try_admit() == 1001.0
    clock.now = 1001.5
    assert limiter.try_admit() is None
    clock.now = 1001.61
    assert limiter.try_admit() == 1001.61
    assert limiter.timestamps == [1000.0, 1000.6, 1001.0, 1001.61]
    assert limiter.max_in_window == 2 == max_in_window(limiter.timestamps)


def test_limiter_unlimited_still_measures_the_busiest_window():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(None, clock=clock)
    for step in range(10):
        clock.now = 1000.0 + step * 0.25
        assert limiter.try_admit() is not None
    assert limiter.max_in_window == 4  # 0.25 s apart: four fit in (t - 1, t]
    assert max_in_window(limiter.timestamps) == 4


def test_limiter_capacity_changes_at_runtime_and_reset_forgets():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, clock=clock)
    assert limiter.try_admit() is not None
    assert limiter.try_admit() is None
    limiter.set_capacity(2)
    assert limiter.try_admit() is not None
    limiter.reset()
    assert limiter.timestamps == [] and limiter.max_in_window == 0


def test_limiter_history_is_bounded_but_the_maximum_stays_exact():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(None, clock=clock, history=3)
    for _ in range(5):
        limiter.try_admit()
    assert len(limiter.timestamps) == 3
    assert limiter.max_in_window == 5


def test_max_in_window_matches_a_brute_force_count():
    stamps = [0.0, 0.1, 0.95, 1.0, 1.05, 1.9, 2.0, 2.01, 3.5]
    brute = max(sum(1 for s in stamps if t - 1.0 < s <= t) for t in stamps)
    assert max_in_window(stamps) == brute == 4
    assert max_in_window([]) == 0


@pytest.mark.parametrize(
    ("rate", "capacity"), [(None, None), (0, None), (0.0, None), (1, 1), (2.5, 2), (100, 100)]
)
def test_window_capacity_from_a_rate(rate, capacity):
    assert window_capacity(rate) == capacity


@pytest.mark.parametrize("rate", [0.5, -1, float("nan"), float("inf")])
def test_window_capacity_refuses_rates_it_cannot_honour(rate):
    with pytest.raises(ValueError, match="rate_limit"):
        LocationEmulatorConfig(rate_limit=rate)
