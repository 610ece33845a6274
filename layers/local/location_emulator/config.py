"""Configuration of one Amazon Location emulator: accepted API keys, rate limit, injected faults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emulator_support.limits import window_capacity

DEFAULT_RATE_LIMIT = 100.0  # the service's default quota per operation, requests per second


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected at random (seeded, so a sequential run is reproducible).

    Rates are fractions in [0, 1] of the calls that reach the operation (authenticated ones).
    """

    throttle_rate: float = 0.0  # extra 429 ThrottlingException, whatever the request rate
    error_rate: float = 0.0  # 500 InternalServerException
    delay_seconds: float = 0.0  # sleep this long before answering ...
    delay_rate: float = 1.0  # ... this fraction of the calls (when delay_seconds > 0)

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "delay_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
        if not math.isfinite(self.delay_seconds) or self.delay_seconds < 0:
            raise ValueError("delay_seconds must be a finite number >= 0")


@dataclass
class LocationEmulatorConfig:
    """Everything that makes one emulator instance behave the way a test needs."""

    # Accepted values of ``?key=``; empty = API keys are refused and only SigV4 is accepted.
    api_keys: set[str] = field(default_factory=set)
    # At most this many accepted requests in any sliding 1-second window, both operations
    # together; 0 or None = unlimited. A fraction is rounded down (2.5 -> 2 per second).
    rate_limit: float | None = DEFAULT_RATE_LIMIT
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    # Populated places with at least this population are known (500, 1000, 5000 or 15000).
    min_city_population: int = 15000
    max_body_bytes: int = 64 * 1024  # waitress answers 413 above this
    # Accepted-request timestamps kept for inspection (the sliding-window maximum stays exact
    # whatever this is; it only bounds the memory of a long-running emulator).
    timestamp_history: int = 100_000

    def __post_init__(self) -> None:
        self.api_keys = set(self.api_keys)
        if any(not key for key in self.api_keys):
            raise ValueError("api_keys must not contain an empty key")
        self.rate_limit = window_capacity(self.rate_limit)
        if self.min_city_population not in (500, 1000, 5000, 15000):
            raise ValueError("min_city_population must be one of 500, 1000, 5000, 15000")
        if self.max_body_bytes < 1024 or self.timestamp_history < 0:
            raise ValueError("max_body_bytes must be >= 1024 and timestamp_history >= 0")
