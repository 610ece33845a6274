"""Decides, reproducibly, which calls get an injected fault (429, 5xx, 408 or a slow answer).

Every call draws the same five numbers whatever the rates, so changing one rate does not
reshuffle the others; the seeding and locking are ``emulator_support.faults``.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator_support.faults import SeededFaultInjector

from .config import FaultConfig


@dataclass(frozen=True)
class CallFaults:
    """What to do to one call; at most one of throttle, error_status and timeout is set."""

    delay_seconds: float = 0.0  # sleep before answering
    throttle: bool = False  # answer 429 (not counted against the quota)
    error_status: int | None = None  # answer this 5xx
    timeout: bool = False  # answer 408


class FaultInjector(SeededFaultInjector[FaultConfig]):
    def for_call(self) -> CallFaults:
        f, (delay, throttle, error, timeout, status) = self._draw(5)
        throttled = throttle < f.throttle_rate
        failed = not throttled and error < f.error_rate
        statuses = f.error_statuses
        return CallFaults(
            delay_seconds=f.delay_seconds if f.delay_seconds > 0 and delay < f.delay_rate else 0.0,
            throttle=throttled,
            error_status=statuses[min(int(status * len(statuses)), len(statuses) - 1)]
            if failed
            else None,
            timeout=not throttled and not failed and timeout < f.timeout_rate,
        )
