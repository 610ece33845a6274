"""Fault injection: seeded, reproducible, changeable at runtime."""

import pytest
from location_emulator import FaultConfig
from location_emulator.faults import FaultInjector


def decisions(faults: FaultConfig, seed: int, count: int = 50):
    injector = FaultInjector(faults, seed)
    return [injector.for_call() for _ in range(count)]


def test_faults_same_seed_same_decisions():
    faults = FaultConfig(throttle_rate=0.3, error_rate=0.3, delay_seconds=0.1, delay_rate=0.5)
    assert decisions(faults, 7) == decisions(faults, 7)
    assert decisions(faults, 7) != decisions(faults, 8)


def test_faults_rates_zero_and_one():
    assert not any(d.throttle or d.error or d.delay_seconds for d in decisions(FaultConfig(), 1))
    assert all(d.throttle and not d.error for d in decisions(FaultConfig(throttle_rate=1.0), 1))
    assert all(d.error for d in decisions(FaultConfig(error_rate=1.0), 1))
    delayed = decisions(FaultConfig(delay_seconds=0.2), 1)
    assert all(d.delay_seconds == 0.2 for d in delayed)


def test_faults_one_rate_does_not_reshuffle_another():
    """Every call draws the same numbers, so the throttled calls stay the throttled calls."""
    alone = [d.throttle for d in decisions(FaultConfig(throttle_rate=0.4), 3)]
    with_delays = [
        d.throttle
        for d in decisions(FaultConfig(throttle_rate=0.4, delay_seconds=0.1, delay_rate=0.5), 3)
    ]
    assert alone == with_delays


def test_faults_replace_takes_effect_for_the_next_call():
    injector = FaultInjector(FaultConfig(), 0)
    assert not injector.for_call().error
    injector.replace(FaultConfig(error_rate=1.0))
    assert injector.for_call().error
    assert injector.faults.error_rate == 1.0


@pytest.mark.parametrize(
    "settings",
    [{"throttle_rate": 1.5}, {"error_rate": -0.1}, {"delay_rate": 2}, {"delay_seconds": -1}],
)
def test_fault_config_refuses_nonsense(settings):
    with pytest.raises(ValueError):
        FaultConfig(**settings)
