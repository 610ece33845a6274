"""What one emulator has seen: request, throttle, fault and error counters (thread-safe).

"Accepted" means let through by the rate limiter, so counted against the quota; an accepted
request can still end in a 400 or an injected 5xx. The sliding-window figures come from the
limiter, which admits and records under one lock, so they are exact.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from .limits import SlidingWindowLimiter


class RequestCounters:
    """Counters keyed by the provider's own operation names and fault kinds.

    An injected throttle must be counted as the fault kind ``"throttle"``: ``throttled`` adds
    those to the 429s of a full window.
    """

    def __init__(self, limiter: SlidingWindowLimiter) -> None:
        self.limiter = limiter
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()  # by operation
        self._faults: Counter[str] = Counter()  # by injected fault kind ("throttle", ...)
        self._errors: Counter[int] = Counter()  # by HTTP status, every answer >= 400
        self._accepted = 0
        self._rate_limited = 0  # 429 because the window was full
        self._succeeded = 0  # 200 answers

    # -- recording (the app) -----------------------------------------------------------------------

    def count_request(self, operation: str) -> None:
        with self._lock:
            self._requests[operation] += 1

    def admit(self) -> bool:
        """Ask the limiter; counts the outcome."""
        admitted = self.limiter.try_admit() is not None
        with self._lock:
            if admitted:
                self._accepted += 1
            else:
                self._rate_limited += 1
        return admitted

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def count_answer(self, status: int) -> None:
        with self._lock:
            if status >= 400:
                self._errors[status] += 1
            elif status == 200:
                self._succeeded += 1

    def reset(self) -> None:
        """Forget everything seen so far (the limiter's window too)."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._errors.clear()
            self._accepted = self._rate_limited = self._succeeded = 0
            self.limiter.reset()

    # -- reading (tests, the CLI) ------------------------------------------------------------------

    @property
    def requests(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    @property
    def rate_limited(self) -> int:
        with self._lock:
            return self._rate_limited

    @property
    def throttled(self) -> int:
        """Every 429 answered: over the rate limit plus injected."""
        with self._lock:
            return self._rate_limited + self._faults["throttle"]

    @property
    def faults(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    @property
    def errors(self) -> dict[int, int]:
        with self._lock:
            return dict(self._errors)

    @property
    def succeeded(self) -> int:
        with self._lock:
            return self._succeeded

    @property
    def max_accepted_per_second(self) -> int:
        """The most requests accepted in any sliding 1-second window so far."""
        return self.limiter.max_in_window

    @property
    def accepted_timestamps(self) -> list[float]:
        """``time.monotonic()`` of each accepted request, oldest first (bounded history)."""
        return self.limiter.timestamps

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counters: dict[str, Any] = {
                "requests": dict(self._requests),
                "accepted": self._accepted,
                "rate_limited": self._rate_limited,
                "throttled": self._rate_limited + self._faults["throttle"],
                "faults": dict(self._faults),
                "errors": {str(status): n for status, n in sorted(self._errors.items())},
                "succeeded": self._succeeded,
            }
        counters["max_accepted_per_second"] = self.limiter.max_in_window
        counters["rate_limit"] = self.limiter.capacity
        return counters
