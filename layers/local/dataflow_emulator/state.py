"""The emulator's memory: jobs, their lifecycle over (adjustable) time, and counters for tests.

A job's visible status is computed from the clock each time it is read, so a Pending job
"progresses" without a timer thread, and ``Clock.advance`` makes days pass in a test.
"""

from __future__ import annotations

import bisect
import math
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PENDING, COMPLETED, ABORTED = "Pending", "Completed", "Aborted"

# What the emulator decided, at creation, will happen to a job (fault injection).
FATE_COMPLETE, FATE_ABORT, FATE_VANISH, FATE_STUCK = "complete", "abort", "vanish", "stuck"
INJECTED_ABORT = (
    "The job was aborted because an error occurred while processing it "
    "(fault injected by the emulator: abort_rate)."
)


class Clock:
    """Wall-clock time (UTC) plus an offset that tests and the control endpoint can advance."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


def new_id() -> str:
    """32 lowercase hex digits, like every job id the service has been seen to return."""
    return uuid.uuid4().hex


@dataclass
class GeocodeJob:
    id: str
    key: str
    description: str
    input_format: str
    created_at: datetime
    deadline: datetime  # not Completed before this moment (processing time)
    total: int
    upload_path: Path
    fate: str = FATE_COMPLETE
    error_message: str | None = None
    # Written by the worker; read under the store's lock.
    processed: int = 0
    failed_positions: list[int] = field(default_factory=list)  # 0-based, increasing
    finished_at: datetime | None = None
    succeeded_count: int = 0
    failed_count: int = 0
    result_paths: dict[str, Path] = field(default_factory=dict)  # "succeeded"/"failed" -> file
    output_format: str | None = None


@dataclass
class DownloadJob:
    """A Data Source Download job."""

    id: str
    key: str
    data_source: Any  # datasources.DataSource
    created_at: datetime
    deadline: datetime
    fate: str = FATE_COMPLETE  # or FATE_ABORT: ends Aborted with an error log


@dataclass(frozen=True)
class JobSnapshot:
    """What a job looks like at one moment."""

    status: str
    processed: int
    failed: int
    completed_at: datetime | None
    outputs: tuple[str, ...]  # names of non-empty result sets ("succeeded", "failed")
    error_message: str | None = None


class EmulatorState:
    """Thread-safe store of jobs and counters; ``to_dict()`` is ``GET /emulator/state``."""

    def __init__(self, clock: Clock | None = None, *, retention_days: int = 14) -> None:
        self.clock = clock or Clock()
        self.retention = timedelta(days=retention_days)
        self.lock = threading.RLock()
        self.jobs: dict[str, GeocodeJob] = {}
        self.download_jobs: dict[str, DownloadJob] = {}
        self.jobs_created = 0
        self.max_concurrent_pending = 0
        self.calls: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()  # e.g. "quota-pending", "bad-request"

    # -- counters ----------------------------------------------------------------------------------

    def count_call(self, endpoint: str) -> None:
        with self.lock:
            self.calls[endpoint] += 1

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults_injected[kind] += 1

    def count_rejection(self, reason: str) -> None:
        with self.lock:
            self.rejections[reason] += 1

    # -- geocode jobs ------------------------------------------------------------------------------

    def snapshot(self, job: GeocodeJob, now: datetime | None = None) -> JobSnapshot | None:
        """The job as seen at ``now``; None when it no longer exists (vanished or expired)."""
        now = now or self.clock.now()
        with self.lock:
            finished = job.finished_at
            processed_so_far = job.processed
            if job.fate == FATE_VANISH and now >= job.deadline:
                return None
            if finished is not None and now >= job.deadline and job.fate != FATE_STUCK:
                completed_at = max(job.deadline, finished)
                if now - completed_at > self.retention:
                    return None
                if job.fate == FATE_ABORT or job.error_message:
                    return JobSnapshot(
                        ABORTED, 0, 0, completed_at, (), job.error_message or INJECTED_ABORT
                    )
                outputs = tuple(
                    name
                    for name, count in (
                        ("succeeded", job.succeeded_count),
                        ("failed", job.failed_count),
                    )
                    if count
                )
                return JobSnapshot(COMPLETED, job.total, job.failed_count, completed_at, outputs)
            span = (job.deadline - job.created_at).total_seconds()
            elapsed = (now - job.created_at).total_seconds()
            fraction = 1.0 if span <= 0 else min(1.0, max(0.0, elapsed / span))
            processed = min(processed_so_far, math.floor(job.total * fraction))
            if job.fate == FATE_STUCK:
                processed = min(processed, max(job.total - 1, 0))
            failed = bisect.bisect_left(job.failed_positions, processed)
            return JobSnapshot(PENDING, processed, failed, None, ())

    def add_job(self, job: GeocodeJob, *, max_pending: int, max_per_day: int) -> str | None:
        """Store ``job`` unless a quota forbids it; return the quota message in that case.

        Checked and inserted under one lock, so concurrent creates cannot overshoot a limit.
        """
        now = job.created_at
        with self.lock:
            pending = [
                j for j in self.jobs.values() if j.key == job.key and self._is_pending(j, now)
            ]
            if len(pending) >= max_pending:
                self.rejections["quota-pending"] += 1
                return f"JobUsageQuota: Account already has {len(pending)} 'Pending' jobs"
            day_ago = now - timedelta(hours=24)
            today = sum(1 for j in self.jobs.values() if j.created_at > day_ago)
            if today >= max_per_day:
                self.rejections["quota-daily"] += 1
                return (
                    f"JobUsageQuota: Account has already submitted {today} jobs in the past "
                    "24 hours"
                )
            self.jobs[job.id] = job
            self.jobs_created += 1
            in_flight = sum(1 for j in self.jobs.values() if self._is_pending(j, now))
            self.max_concurrent_pending = max(self.max_concurrent_pending, in_flight)
            return None

    def _is_pending(self, job: GeocodeJob, now: datetime) -> bool:
        snap = self.snapshot(job, now)
        return snap is not None and snap.status == PENDING

    def get_job(self, job_id: str) -> GeocodeJob | None:
        with self.lock:
            return self.jobs.get(job_id.lower())

    def recent_jobs(self, days: int) -> list[tuple[GeocodeJob, JobSnapshot]]:
        """Jobs created in the last ``days`` that still exist: pending first, newest first."""
        now = self.clock.now()
        since = now - timedelta(days=days)
        with self.lock:
            found = [
                (j, self.snapshot(j, now)) for j in self.jobs.values() if j.created_at >= since
            ]
        visible = [(j, s) for j, s in found if s is not None]
        visible.sort(key=lambda js: (js[1].status != PENDING, -js[0].created_at.timestamp()))
        return visible

    def record_progress(self, job: GeocodeJob, processed: int, failed_position: int | None) -> None:
        with self.lock:
            job.processed = processed
            if failed_position is not None:
                job.failed_positions.append(failed_position)

    def finish_job(
        self,
        job: GeocodeJob,
        *,
        succeeded: int,
        failed: int,
        result_paths: dict[str, Path],
        output_format: str,
        error_message: str | None = None,
    ) -> None:
        with self.lock:
            job.succeeded_count = succeeded
            job.failed_count = failed
            job.result_paths = dict(result_paths)
            job.output_format = output_format
            job.processed = job.total if error_message is None else job.processed
            if error_message is not None:
                job.error_message = error_message
            job.finished_at = self.clock.now()

    # -- data source download jobs ----------------------------------------------------------------

    def add_download_job(self, job: DownloadJob) -> None:
        with self.lock:
            self.download_jobs[job.id] = job

    def download_job(
        self, *, job_id: str | None = None, name: str | None = None, key: str | None = None
    ) -> DownloadJob | None:
        """By id, or the newest download job of the data source ``name`` created with ``key``."""
        with self.lock:
            if job_id is not None:
                return self.download_jobs.get(job_id.lower())
            matching = [
                j
                for j in self.download_jobs.values()
                if j.data_source.name.casefold() == (name or "").casefold()
                and (key is None or j.key == key)
            ]
        return max(matching, key=lambda j: j.created_at) if matching else None

    # -- inspection --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        now = self.clock.now()
        with self.lock:
            statuses: Counter[str] = Counter()
            for job in self.jobs.values():
                snap = self.snapshot(job, now)
                statuses[snap.status if snap else "Gone"] += 1
            return {
                "now": now.isoformat(),
                "jobs_created": self.jobs_created,
                "jobs_by_status": dict(statuses),
                "pending_jobs": statuses.get(PENDING, 0),
                "max_concurrent_pending": self.max_concurrent_pending,
                "download_jobs_created": len(self.download_jobs),
                "calls": dict(self.calls),
                "faults_injected": dict(self.faults_injected),
                "rejections": dict(self.rejections),
            }
