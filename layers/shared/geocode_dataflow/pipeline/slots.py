"""Provider slots: never more than N jobs in process at the provider, never more than M jobs
started in any 24 hours (the service's own limits: 10 and 50 per account).

One item of the jobs table (``job_id = "#provider-slots"``) holds the jobs that hold a slot
(job id -> acquired at) and the jobs started in the last 24 hours (job id -> epoch seconds),
updated with optimistic locking on a version number. Both are keyed by job id: acquiring again
for the same job (a duplicate event, a retry after the provider refused) counts nothing twice,
and releasing a job that holds no slot changes nothing. A write that lost the race (another
writer changed the item since it was read) is tried again on a fresh read; those conflicts are
counted in the ``SlotConflicts`` metric (the measure of contention on the item; after 25 in
one update it gives up with ``SlotContentionError``, which the caller retries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from geocode_dataflow.errors import TransientError
from geocode_dataflow.pipeline.jobs import iso, utc_now
from geocode_dataflow.pipeline.observability import MetricUnit, metrics

SLOTS_ITEM_ID = "#provider-slots"
DAY = timedelta(hours=24)
_ATTEMPTS = 25


class SlotContentionError(TransientError):
    """Too many concurrent writers on the slots item; the caller retries later."""


@dataclass(frozen=True)
class SlotDecision:
    acquired: bool
    reason: str | None = None  # why not, in words a person reads in the job record
    in_flight: int = 0
    started_last_24h: int = 0


class ProviderSlots:
    def __init__(
        self,
        table: Any,
        *,
        max_in_flight: int,
        max_per_day: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._table = table
        self.max_in_flight = max_in_flight
        self.max_per_day = max_per_day
        self._clock = clock

    def _read(self) -> dict[str, Any]:
        item = self._table.get_item(Key={"job_id": SLOTS_ITEM_ID}, ConsistentRead=True).get("Item")
        return item or {"job_id": SLOTS_ITEM_ID, "holders": {}, "starts": {}, "version": 0}

    def _write(self, item: dict[str, Any], expected_version: int) -> bool:
        item = {**item, "version": expected_version + 1}
        condition = "attribute_not_exists(job_id)" if expected_version == 0 else "version = :v"
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if expected_version:
            kwargs["ExpressionAttributeValues"] = {":v": expected_version}
        try:
            self._table.put_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _update(
        self, change: Callable[[dict[str, Any]], SlotDecision | None]
    ) -> SlotDecision | None:
        conflicts = 0
        try:
            for attempt in range(_ATTEMPTS):
                item = self._read()
                version = int(item.get("version", 0))
                decision = change(item)
                if decision is not None and not decision.acquired:
                    return decision  # nothing to write
                if self._write(item, version):
                    return decision
                conflicts += 1
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
        finally:
            if conflicts:
                metrics.add_metric(name="SlotConflicts", unit=MetricUnit.Count, value=conflicts)
        raise SlotContentionError("could not update the provider slots after repeated conflicts")

    def try_acquire(self, job_id: str) -> SlotDecision:
        now = self._clock()

        def change(item: dict[str, Any]) -> SlotDecision:
            holders: dict[str, str] = item.setdefault("holders", {})
            starts = _recent(item, now)
            item["starts"] = starts
            if job_id in holders:
                return SlotDecision(True, None, len(holders), len(starts))
            if len(holders) >= self.max_in_flight:
                return SlotDecision(
                    False,
                    f"{len(holders)} jobs are in process at the provider (limit "
                    f"{self.max_in_flight}); this one starts when a slot frees",
                    len(holders),
                    len(starts),
                )
            if job_id not in starts and len(starts) >= self.max_per_day:
                oldest = datetime.fromtimestamp(
                    min(float(s) for s in starts.values()), tz=now.tzinfo
                )
                return SlotDecision(
                    False,
                    f"{len(starts)} jobs were started in the last 24 hours (limit "
                    f"{self.max_per_day}); this one starts after {iso(oldest + DAY)}",
                    len(holders),
                    len(starts),
                )
            holders[job_id] = iso(now)
            starts.setdefault(job_id, _decimal_seconds(now))
            return SlotDecision(True, None, len(holders), len(starts))

        decision = self._update(change)
        assert decision is not None
        return decision

    def release(self, job_id: str, *, not_started: bool = False) -> None:
        """Free the job's slot. ``not_started``: the provider refused the job (nothing was
        created), so it does not count against the 24-hour allowance either."""

        def change(item: dict[str, Any]) -> SlotDecision | None:
            item.setdefault("holders", {}).pop(job_id, None)
            if not_started:
                item.setdefault("starts", {}).pop(job_id, None)
            return None

        current = self._read()
        if job_id in current.get("holders", {}) or (
            not_started and job_id in current.get("starts", {})
        ):
            self._update(change)

    def holders(self) -> list[str]:
        return sorted(self._read().get("holders", {}))

    def snapshot(self) -> dict[str, Any]:
        item = self._read()
        return {
            "in_flight": sorted(item.get("holders", {})),
            "started_last_24h": len(_recent(item, self._clock())),
        }


def _recent(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The starts of the last 24 hours (job id -> epoch seconds)."""
    cutoff = (now - DAY).timestamp()
    starts = item.get("starts") or {}
    return {job: at for job, at in starts.items() if float(at) > cutoff}


def _decimal_seconds(moment: datetime) -> Any:
    from decimal import Decimal

    return Decimal(str(round(moment.timestamp(), 3)))
