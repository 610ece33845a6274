"""Configuration of one Azure Maps emulator: accepted keys, versions, limits, injected faults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emulator_support.limits import window_capacity

DEFAULT_RATE_LIMIT = 10.0  # "Search service - Batch": 10 QPS on Gen2 and Gen1 S1 (reference §6)
DEFAULT_KEY = "azure-maps-emulator-key"  # accepted when no keys are configured in Python
# Newest first; 2023-06-01 is what azure-maps-search 2.0.0b2 sends by default.
API_VERSIONS = ("2026-01-01", "2025-01-01", "2023-06-01")
MAX_BATCH_ITEMS = 100
REQUEST_TIMEOUT_SECONDS = 60.0  # the synchronous batch answers 408 past this (reference §6)


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected at random (seeded, so a sequential run is reproducible), plus one
    deterministic fault: 408 for any batch of more than ``timeout_over_items`` items.

    Rates are fractions in [0, 1] of the authenticated calls the rate limit let through, except
    ``throttle_rate``, which is drawn before the rate limit (an injected 429 uses no quota).
    """

    throttle_rate: float = 0.0  # extra 429, whatever the request rate
    error_rate: float = 0.0  # a 5xx, one of error_statuses (drawn evenly)
    timeout_rate: float = 0.0  # 408, answered at once (not after 60 s)
    delay_seconds: float = 0.0  # sleep this long before answering ...
    delay_rate: float = 1.0  # ... this fraction of the calls (when delay_seconds > 0)
    timeout_over_items: int | None = None  # 408 for a batch with more items than this
    error_statuses: tuple[int, ...] = (500, 503)

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "timeout_rate", "delay_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
        if not math.isfinite(self.delay_seconds) or self.delay_seconds < 0:
            raise ValueError("delay_seconds must be a finite number >= 0")
        if self.timeout_over_items is not None and self.timeout_over_items < 0:
            raise ValueError("timeout_over_items must be None or >= 0")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be a non-empty list of 5xx statuses")


@dataclass
class AzureMapsEmulatorConfig:
    """Everything that makes one emulator instance behave the way a test needs."""

    # Accepted subscription keys (case-sensitive). Empty = every request gets 401.
    keys: set[str] = field(default_factory=lambda: {DEFAULT_KEY})
    # At most this many accepted requests in any sliding 1-second window, both operations
    # together; 0 or None = unlimited. A fraction is rounded down (2.5 -> 2 per second).
    rate_limit: float | None = DEFAULT_RATE_LIMIT
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    api_versions: tuple[str, ...] = API_VERSIONS
    max_batch_items: int = MAX_BATCH_ITEMS
    # An injected delay longer than this ends in 408 after this long, as a slow batch does.
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    # Retry-After on every 429 (seconds); None = no header. The service's header is unverified.
    retry_after_seconds: int | None = 1
    # Populated places with at least this population are known (500, 1000, 5000 or 15000).
    min_city_population: int = 15000
    max_body_bytes: int = 1024 * 1024  # 100 items fit many times over; 413 above
    # Accepted-request timestamps kept for inspection (the sliding-window maximum stays exact
    # whatever this is; it only bounds the memory of a long-running emulator).
    timestamp_history: int = 100_000

    def __post_init__(self) -> None:
        self.keys = set(self.keys)
        if any(not key for key in self.keys):
            raise ValueError("keys must not contain an empty key")
        self.rate_limit = window_capacity(self.rate_limit)
        self.api_versions = tuple(self.api_versions)
        if not self.api_versions:
            raise ValueError("api_versions must name at least one version")
        if self.max_batch_items < 1:
            raise ValueError("max_batch_items must be >= 1")
        if not math.isfinite(self.request_timeout_seconds) or self.request_timeout_seconds < 0:
            raise ValueError("request_timeout_seconds must be a finite number >= 0")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be None or >= 0")
        if self.min_city_population not in (500, 1000, 5000, 15000):
            raise ValueError("min_city_population must be one of 500, 1000, 5000, 15000")
        if self.max_body_bytes < 1024 or self.timestamp_history < 0:
            raise ValueError("max_body_bytes must be >= 1024 and timestamp_history >= 0")
