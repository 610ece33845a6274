"""Decides, reproducibly, which calls get an injected fault (429, 500 or a slow answer).

Every call draws the same three numbers whatever the rates, so changing one rate does not
reshuffle the others; the seeding and locking are ``emulator_support.faults``.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator_support.faults import SeededFaultInjector

from .config import FaultConfig


@dataclass(frozen=True)
class CallFaults:
    """What to do to one call."""

    delay_seconds: float = 0.0  # sleep before answering
    throttle: bool = False  # answer 429 ThrottlingException (not counted against the quota)
    error: bool = False  # answer 500 InternalServerException


class FaultInjector(SeededFaultInjector[FaultConfig]):
    def for_call(self) -> CallFaults:
        f, (delay_draw, throttle_draw, error_draw) = self._draw(3)
        delayed = f.delay_seconds > 0 and delay_draw < f.delay_rate
        throttle = throttle_draw < f.throttle_rate
        return CallFaults(
            delay_seconds=f.delay_seconds if delayed else 0.0,
            throttle=throttle,
            error=not throttle and error_draw < f.error_rate,
        )
