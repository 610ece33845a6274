"""How a Dataflow job is shown on the terminal: the live progress line and the job summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Any

from geocode_dataflow.client import DataflowJob


class ProgressLine:
    """The live "processed/total, elapsed" line: rewritten in place on a terminal, one line per
    poll otherwise (logs, CI). Elapsed time counts from the line's creation (before the upload)."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._width = 0
        self._clock = clock
        self._started = clock()

    def update(self, job: DataflowJob, _wait_elapsed: float = 0.0) -> None:
        elapsed = self._clock() - self._started
        total = job.total_entity_count
        processed = job.processed_entity_count
        done = f"{processed if processed is not None else '?'}/{total if total else '?'} processed"
        if total and processed is not None:
            done += f" ({min(100, processed * 100 // total)}%)"
        text = f"job {job.id}: {job.status or '?'}, {done}, elapsed {duration(elapsed)}"
        if self._tty:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


def describe_job(job: DataflowJob) -> str:
    rows = [("job", job.id), ("status", job.status or "-")]
    if job.error_message:
        rows.append(("error", job.error_message))
    if job.description:
        rows.append(("description", job.description))
    if job.name:
        rows.append(("name", job.name))
    if job.created_date:
        rows.append(("created", job.created_date.isoformat()))
    if job.completed_date:
        rows.append(("completed", job.completed_date.isoformat()))
    if job.created_date and job.completed_date:
        rows.append(("took", duration((job.completed_date - job.created_date).total_seconds())))
    rows.append(("entities", counts(job, long=True)))
    rows.append(("result sets", ", ".join(sorted(job.output_urls, reverse=True)) or "none"))
    return "\n".join(f"{label + ':':<14}{value}" for label, value in rows)


def counts(job: DataflowJob, *, long: bool = False) -> str:
    def show(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    if long:
        return (
            f"{show(job.total_entity_count)} total, {show(job.processed_entity_count)} processed, "
            f"{show(job.failed_entity_count)} failed"
        )
    processed, total = show(job.processed_entity_count), show(job.total_entity_count)
    return f"{processed}/{total} ({show(job.failed_entity_count)} failed)"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def print_match_summary(summary: dict[str, Any], out: IO[str]) -> None:
    """The match summary as a short table: matched / no match / failed, then the quality."""
    rows = int(summary["rows"]) or 1
    for label, key in (("matched", "matched"), ("no match", "no_match"), ("failed", "failed")):
        count = int(summary.get(key, 0))
        out.write(f"  {label:<9} {count:>8,}  {100 * count / rows:5.1f}%\n")
    for label, key in (("confidence", "by_confidence"), ("type", "by_entity_type")):
        counts = summary.get(key) or {}
        if counts:
            shown = ", ".join(f"{name} {count:,}" for name, count in counts.items())
            out.write(f"  {label:<10} {shown}\n")
