"""Decides, reproducibly, which calls and jobs get an injected fault.

Each decision rolls only the rates it needs, under the lock of the seeded generator
(``emulator_support.faults``), and counts the faults it injects in the emulator's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator_support.faults import SeededFaultInjector

from .config import FaultConfig
from .state import FATE_ABORT, FATE_COMPLETE, FATE_STUCK, FATE_VANISH, EmulatorState


@dataclass(frozen=True)
class CallFaults:
    """What to do to one API call."""

    delay_seconds: float = 0.0
    reset: bool = False  # drop the connection before handling the call
    error_status: int | None = None  # answer this instead of handling the call
    lose_response: bool = False  # handle the call, then drop the connection instead of answering


class FaultInjector(SeededFaultInjector[FaultConfig]):
    def __init__(self, faults: FaultConfig, seed: int, state: EmulatorState) -> None:
        super().__init__(faults, seed)
        self._state = state

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def for_call(self, endpoint: str) -> CallFaults:
        with self._lock:
            f = self._faults
            delay = f.delay_seconds if f.delay_seconds > 0 and self._roll(f.delay_rate) else 0.0
            if self._roll(f.rate("reset_rate", endpoint)):
                decision = CallFaults(delay, reset=True)
            elif self._roll(f.rate("error_rate", endpoint)):
                decision = CallFaults(delay, error_status=self._random.choice(f.error_statuses))
            elif self._roll(f.rate("lost_response_rate", endpoint)):
                decision = CallFaults(delay, lose_response=True)
            else:
                decision = CallFaults(delay)
        if decision.delay_seconds:
            self._state.count_fault("delay")
        if decision.reset:
            self._state.count_fault("reset")
        if decision.error_status:
            self._state.count_fault(f"error_{decision.error_status}")
        if decision.lose_response:
            self._state.count_fault("lost_response")
        return decision

    def quota_refusal(self) -> bool:
        with self._lock:
            refused = self._roll(self._faults.quota_rate)
        if refused:
            self._state.count_fault("quota")
        return refused

    def job_fate(self) -> str:
        """What will happen to a new job: complete, abort, vanish or stuck."""
        with self._lock:
            f = self._faults
            draw = self._random.random()
        fate = FATE_COMPLETE
        threshold = 0.0
        for rate, candidate in (
            (f.abort_rate, FATE_ABORT),
            (f.vanish_rate, FATE_VANISH),
            (f.stuck_rate, FATE_STUCK),
        ):
            threshold += rate
            if rate > 0 and draw < threshold:
                fate = candidate
                break
        if fate != FATE_COMPLETE:
            self._state.count_fault(f"job_{fate}")
        return fate

    def processing_seconds(self, default: float) -> float:
        override = self.faults.processing_seconds
        return default if override is None else override
