"""Decides, reproducibly, which calls get an injected fault (429, 500 or a slow answer).

One seeded ``random.Random`` per emulator, guarded by a lock: the same seed and the same
sequence of calls give the same faults. Every call draws the same three numbers whatever the
rates, so changing one rate does not reshuffle the others. (Concurrent callers interleave in
whatever order the threads run, so only sequential runs replay exactly.)
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .config import FaultConfig


@dataclass(frozen=True)
class CallFaults:
    """What to do to one call."""

    delay_seconds: float = 0.0  # sleep before answering
    throttle: bool = False  # answer 429 ThrottlingException (not counted against the quota)
    error: bool = False  # answer 500 InternalServerException


class FaultInjector:
    def __init__(self, faults: FaultConfig, seed: int) -> None:
        self._faults = faults
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def faults(self) -> FaultConfig:
        with self._lock:
            return self._faults

    def replace(self, faults: FaultConfig) -> None:
        with self._lock:
            self._faults = faults

    def for_call(self) -> CallFaults:
        with self._lock:
            f = self._faults
            delay_draw, throttle_draw, error_draw = (self._random.random() for _ in range(3))
        delayed = f.delay_seconds > 0 and delay_draw < f.delay_rate
        throttle = throttle_draw < f.throttle_rate
        return CallFaults(
            delay_seconds=f.delay_seconds if delayed else 0.0,
            throttle=throttle,
            error=not throttle and error_draw < f.error_rate,
        )
