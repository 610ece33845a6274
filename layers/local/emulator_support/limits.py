"""The request-rate quota: at most N accepted requests in any sliding 1-second window.

The limiter also keeps what tests need to check it: the timestamps of accepted requests and the
largest number ever accepted within one window, computed exactly as requests are admitted.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

WINDOW_SECONDS = 1.0


class SlidingWindowLimiter:
    """Admit a request unless ``capacity`` requests were already admitted in the last second.

    A refused request is not recorded, so it does not use up the window. ``capacity`` None =
    unlimited (every request is admitted and still counted in the statistics).
    """

    def __init__(
        self,
        capacity: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        history: int = 100_000,
    ) -> None:
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()  # admitted within the last window, oldest first
        self._history: deque[float] = deque(maxlen=history)
        self._max_in_window = 0

    @classmethod
    def per_second(cls, rate_limit: float | None, *, history: int) -> SlidingWindowLimiter:
        """A limiter for a requests-per-second limit (see ``window_capacity``)."""
        return cls(window_capacity(rate_limit), history=history)

    @property
    def capacity(self) -> int | None:
        with self._lock:
            return self._capacity

    def set_capacity(self, capacity: int | None) -> None:
        with self._lock:
            self._capacity = capacity

    def try_admit(self) -> float | None:
        """The admission time (``clock()``) when admitted, None when over the limit."""
        with self._lock:
            now = self._clock()
            # The window is (now - 1 s, now]: a request exactly one second old has left it.
            while self._recent and self._recent[0] <= now - WINDOW_SECONDS:
                self._recent.popleft()
            if self._capacity is not None and len(self._recent) >= self._capacity:
                return None
            self._recent.append(now)
            self._history.append(now)
            # The busiest window always ends at an admission, so checking here is exact.
            self._max_in_window = max(self._max_in_window, len(self._recent))
            return now

    @property
    def max_in_window(self) -> int:
        with self._lock:
            return self._max_in_window

    @property
    def timestamps(self) -> list[float]:
        with self._lock:
            return list(self._history)

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._history.clear()
            self._max_in_window = 0


def max_in_window(timestamps: Iterable[float], window: float = WINDOW_SECONDS) -> int:
    """The most timestamps found in any half-open window (t - window, t]: an independent check."""
    ordered = sorted(timestamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while ordered[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def window_capacity(rate_limit: float | None) -> int | None:
    """Requests allowed per sliding second for a requests-per-second limit; None = unlimited."""
    if rate_limit is None or rate_limit == 0:
        return None
    value = float(rate_limit)
    if not math.isfinite(value) or value < 1:
        raise ValueError(
            f"rate_limit must be 0/None (unlimited) or at least 1 request/s, got {rate_limit!r}"
        )
    return int(value)
