"""Pacing: never more than R requests per second to a provider, across every concurrent chunk.

A generic cell rate algorithm (GCRA) whose one shared variable lives in the jobs table: the
*theoretical arrival time* (``tat``) of the next free request slot. A worker claims ``k`` slots
at once by moving ``tat`` forward by ``k / R`` with a conditional update (an idle provider,
``tat`` in the past, restarts it at now), so slots handed to different Lambdas never overlap
and at most R fall in any second. Each slot is used at its time or not at all: a slot that a
busy worker reaches too late is skipped, so late requests never pile up into a burst.

One DynamoDB update per ``k`` requests; with the default ``k`` (a tenth of a second of the
rate) that is ten updates per second at any rate, whatever the number of workers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

RATE_ITEM_PREFIX = "#rate#"
# Pace a little under the configured rate: clocks of different Lambdas and network jitter
# move requests by a few milliseconds, and the provider counts what arrives.
SAFETY = 0.95
LATE_TOLERANCE = 0.02  # seconds: a slot reached later than this is skipped


def _number(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


class RateLimiter:
    """``acquire()`` blocks until this worker may send one request. Thread-safe."""

    def __init__(
        self,
        table: Any,
        key: str,
        rate: float,
        *,
        batch: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the request rate must be positive")
        self._table = table
        self._key = f"{RATE_ITEM_PREFIX}{key}"
        self._interval = 1.0 / (rate * SAFETY)
        self._batch = batch or max(1, min(25, round(rate * SAFETY / 10)))
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque()
        self._lock = threading.Lock()
        self.claims = 0
        self.skipped = 0

    def acquire(self, expected: int | None = None) -> None:
        """Wait for the next slot. ``expected``: requests this worker still plans to send,
        so that it never claims (and wastes) more slots than it can use."""
        while True:
            slot = self._next_slot(expected)
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
            if self._clock() - slot <= LATE_TOLERANCE:
                return
            self.skipped += 1  # woke up too late (a busy machine): that slot has passed

    def _next_slot(self, expected: int | None) -> float:
        with self._lock:
            while True:
                now = self._clock()
                while self._slots and self._slots[0] < now - LATE_TOLERANCE:
                    self._slots.popleft()
                    self.skipped += 1
                if self._slots:
                    return self._slots.popleft()
                self._claim(min(self._batch, max(1, expected or self._batch)))

    def _claim(self, count: int) -> None:
        span = count * self._interval
        while True:
            now = self._clock()
            start = self._advance(span, now)
            if start is None:
                start = self._restart(span, now)
            if start is not None:
                break
        self.claims += 1
        self._slots.extend(start + i * self._interval for i in range(count))

    def _advance(self, span: float, now: float) -> float | None:
        """Busy provider: take the ``span`` after ``tat``."""
        try:
            response = self._table.update_item(
                Key={"job_id": self._key},
                UpdateExpression="SET tat = tat + :span",
                ConditionExpression="tat >= :now",
                ExpressionAttributeValues={":span": _number(span), ":now": _number(now)},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return float(response["Attributes"]["tat"]) - span

    def _restart(self, span: float, now: float) -> float | None:
        """Idle provider (no ``tat``, or one in the past): start at now."""
        try:
            self._table.update_item(
                Key={"job_id": self._key},
                UpdateExpression="SET tat = :tat",
                ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                ExpressionAttributeValues={":tat": _number(now + span), ":now": _number(now)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None  # another worker restarted it first: advance instead
        return now
