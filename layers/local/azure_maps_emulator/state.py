"""What one emulator has seen: the shared request counters plus batch items (thread-safe).

Requests, accepted, rate_limited, throttled, faults, errors, succeeded and the sliding-window
figures are those of ``emulator_support.counters`` (the same as the Location emulator's); this
adds the items of the batches answered 200, which is what Azure bills (one transaction per item).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from emulator_support.counters import RequestCounters
from emulator_support.limits import SlidingWindowLimiter


class AzureMapsEmulatorState(RequestCounters):
    """Operations are ``geocode:batch`` and ``reverseGeocode:batch``. Fault kinds: ``throttle``,
    ``error``, ``timeout`` (injected 408, or a delay past the time limit), ``delay`` and
    ``timeout_over_items``."""

    def __init__(self, limiter: SlidingWindowLimiter) -> None:
        super().__init__(limiter)
        self._items_lock = threading.Lock()
        self._items: Counter[str] = Counter()  # by operation, batches answered 200
        self._item_errors: Counter[str] = Counter()  # of those, items answered with an error

    def count_items(self, operation: str, total: int, failed: int) -> None:
        with self._items_lock:
            self._items[operation] += total
            if failed:
                self._item_errors[operation] += failed

    def reset(self) -> None:
        super().reset()
        with self._items_lock:
            self._items.clear()
            self._item_errors.clear()

    @property
    def items(self) -> dict[str, int]:
        with self._items_lock:
            return dict(self._items)

    @property
    def item_errors(self) -> dict[str, int]:
        with self._items_lock:
            return dict(self._item_errors)

    def snapshot(self) -> dict[str, Any]:
        counters = super().snapshot()
        with self._items_lock:
            counters["items"] = dict(self._items)
            counters["item_errors"] = dict(self._item_errors)
        return counters
