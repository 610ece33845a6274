"""Geocode one chunk of an engine job: the Lambda that a Distributed Map runs per chunk.

The chunk's entities are geocoded in order, a few requests in flight, each request paced by
the shared ``RateLimiter``; throttling, 5xx and timeouts are retried with bounded exponential
backoff (full jitter). Results are written in pieces of ``PIECE_ENTITIES``: an invocation that
dies (timeout, out of memory) loses at most the piece it was working on, and the retry resumes
after the last piece written, so no entity is geocoded twice once its piece exists, none is
lost and none is written twice. An invocation near its time limit returns ``done: false`` and
the state machine runs it again.

Entities the Dataflow service would fail (no address and no query, an output-only field) fail
here with the same FaultReason and no provider call. When the chunk cannot be finished (the
provider unavailable after every retry), ``fail_chunk`` puts the entities left in the failed
set with the reason: nothing is dropped.
"""

from __future__ import annotations

import functools
import hashlib
import random
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from geocode_dataflow.errors import PermanentError, SplitBatchError, TransientError
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.engine import (
    EngineProgress,
    WorkLayout,
    covered,
    list_pieces,
    put_entities,
    read_entities,
)
from geocode_dataflow.pipeline.jobs import JobStore
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.pacing import RateLimiter
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import EntityGeocoder
from geocode_dataflow.schema import GeocodeEntity, fault_reason, jsonlines

PIECE_ENTITIES = 50
PIECE_BATCHES = 5  # batch providers: a piece is this many full requests
ATTEMPTS = 10  # per request; 30% transient faults leave 6e-6 of the entities to the Map's retry
BACKOFF_BASE, BACKOFF_CAP = 0.1, 5.0
TIME_MARGIN_MS = 30_000  # stop this long before the function's limit (plus a piece's time)
UNAVAILABLE = "ServiceUnavailable"


@dataclass
class ChunkContext:
    """What the chunk step talks to (built by the handler's runtime)."""

    objects: ObjectStore
    store: JobStore
    table: Any
    geocoder: EntityGeocoder
    limiter: RateLimiter
    work_prefix: str
    request_concurrency: int
    remaining_ms: Callable[[], int]
    sleep: Callable[[float], None] = time.sleep


def geocode_chunk(event: dict[str, Any], ctx: ChunkContext) -> dict[str, Any]:
    job_id, index = str(event["job_id"]), int(event["chunk"])
    layout = WorkLayout(ctx.work_prefix, job_id)
    record = ctx.store.get(job_id)
    if record is not None and record.status in jobs.FINAL_STATUSES:
        logger.info("Job already final; chunk not geocoded", extra={"status": record.status})
        return {"job_id": job_id, "chunk": index, "done": True, "skipped": True}
    text_format = _is_text(ctx.objects, layout)
    entities = list(read_entities(ctx.objects, layout.chunk(index)))
    position = _resume_at(ctx.objects, layout, index)
    progress = EngineProgress(ctx.table, job_id)
    started_at, last_piece_ms = position, 0
    batch_size = max(1, int(ctx.geocoder.batch_size))
    piece_size = (
        max(PIECE_ENTITIES, PIECE_BATCHES * batch_size) if batch_size > 1 else PIECE_ENTITIES
    )
    with ThreadPoolExecutor(max_workers=ctx.request_concurrency) as pool:
        while position < len(entities):
            if position > started_at and ctx.remaining_ms() < TIME_MARGIN_MS + last_piece_ms:
                logger.info("Chunk paused near the time limit", extra={"at": position})
                return {"job_id": job_id, "chunk": index, "done": False, "at": position}
            if position > started_at and _job_ended(ctx, job_id):
                # Cancelled or failed meanwhile: not one more request is paid for.
                logger.info("Job ended; chunk stopped", extra={"at": position})
                return {"job_id": job_id, "chunk": index, "done": True, "skipped": True}
            piece = entities[position : position + piece_size]
            expected = -(-(len(entities) - position) // batch_size)  # requests still to send
            tick = time.monotonic()
            batches = _plan(piece, ctx.geocoder)
            try:
                send = functools.partial(_send, ctx=ctx, text_format=text_format, expected=expected)
                sent = sum(pool.map(send, batches))
            except PermanentError as exc:
                # No permission, a bad configuration: no chunk can succeed. The job fails
                # with the provider's words (the engine's Map stops on this error).
                progress.refuse(f"{type(exc).__name__}: {exc}")
                raise
            failed = sum(1 for e in piece if e.status_code != "Success")
            end = position + len(piece)
            put_entities(ctx.objects, layout.piece(index, position, end, failed), piece)
            progress.add(len(piece), failed, sent)
            last_piece_ms = int((time.monotonic() - tick) * 1000)
            position = end
    logger.info("Chunk geocoded", extra={"chunk": index, "entities": len(entities)})
    return {"job_id": job_id, "chunk": index, "done": True}


def _job_ended(ctx: ChunkContext, job_id: str) -> bool:
    record = ctx.store.get(job_id)
    return record is not None and record.status in jobs.FINAL_STATUSES


def fail_chunk(event: dict[str, Any], ctx: ChunkContext) -> dict[str, Any]:
    """The chunk could not be finished: its entities without results go to the failed set."""
    job_id, index = str(event["job_id"]), int(event["chunk"])
    layout = WorkLayout(ctx.work_prefix, job_id)
    error = event.get("error") or {}
    reason = _reason(error)
    entities = list(read_entities(ctx.objects, layout.chunk(index)))
    position = _resume_at(ctx.objects, layout, index)
    left = entities[position:]
    for entity in left:
        entity.responses = []
        entity.status_code = UNAVAILABLE
        entity.fault_reason = reason
    if left:
        put_entities(ctx.objects, layout.piece(index, position, len(entities), len(left)), left)
        EngineProgress(ctx.table, job_id).add(len(left), len(left))
    logger.error(
        "Chunk could not be geocoded; its entities are in the failed set",
        extra={"chunk": index, "entities": len(left), "reason": reason},
    )
    return {"job_id": job_id, "chunk": index, "done": True, "failed": len(left)}


def _plan(piece: list[GeocodeEntity], geocoder: EntityGeocoder) -> list[list[GeocodeEntity]]:
    """The provider requests for a piece: entities the Dataflow service would fail are failed
    here with its words (and cost nothing); the others are grouped by the provider's batch key,
    in order, ``batch_size`` per request."""
    groups: dict[Hashable, list[GeocodeEntity]] = {}
    for entity in piece:
        request = jsonlines.dumps(entity)
        entity.trace_id = f"{geocoder.name}|{hashlib.sha256(request.encode()).hexdigest()[:32]}"
        refused = fault_reason(entity)
        if refused is not None:
            entity.responses, entity.status_code, entity.fault_reason = [], "BadRequest", refused
            continue
        groups.setdefault(geocoder.batch_key(entity), []).append(entity)
    size = max(1, int(geocoder.batch_size))
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def _send(
    batch: list[GeocodeEntity], ctx: ChunkContext, *, text_format: bool, expected: int
) -> int:
    """One provider request for ``batch``, retried; returns the requests it took."""
    sent = 0
    for attempt in range(1, ATTEMPTS + 1):
        ctx.limiter.acquire(expected)
        sent += 1
        try:
            ctx.geocoder.geocode_batch(batch, text_format=text_format)
            return sent
        except SplitBatchError:
            if len(batch) > 1:  # too slow for the provider's time limit: two halves
                half = len(batch) // 2
                first = _send(batch[:half], ctx, text_format=text_format, expected=expected)
                return (
                    sent
                    + first
                    + _send(batch[half:], ctx, text_format=text_format, expected=expected)
                )
            if attempt == ATTEMPTS:
                raise
        except TransientError as exc:
            if attempt == ATTEMPTS:
                raise
            logger.debug("Provider request retried", extra={"error": type(exc).__name__})
        ctx.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))  # noqa: S311
    raise AssertionError("unreachable")


def _resume_at(objects: ObjectStore, layout: WorkLayout, index: int) -> int:
    chain = covered(list_pieces(objects, layout.pieces_of(index)).get(index, []))
    return chain[-1].end if chain else 0


def _is_text(objects: ObjectStore, layout: WorkLayout) -> bool:
    return objects.get_json(layout.manifest)["format"] != "xml"


def _reason(error: dict[str, Any]) -> str:
    from geocode_dataflow.pipeline.failure import describe_error

    described = describe_error(error)
    return f"The provider could not geocode this entity: {described['message']}"[:1000]
