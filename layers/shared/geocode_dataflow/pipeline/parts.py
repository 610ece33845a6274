"""Files beyond one provider job: split into parts, each its own provider job, merged back.

The Bing service takes at most 200,000 entities per job (50 with a Basic key). A valid file
over that is written as parts under ``work/<job>/parts/`` in its own format, one child job
per part (``<job>-pNNN``, recorded QUEUED with ``parent_job_id``): the dispatcher starts
them through the provider slots like any job, so the 10-in-flight and 50-a-day limits hold.
The parent stays PENDING, listing its parts. When the last part ends, the parent's
``succeeded`` and ``failed`` sets are merged from the parts in input order (a part that
failed contributes its entities to the failed set with its reason), then the parent gets its
tables, its summary and COMPLETED, and is announced (parts are not).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from geocode_dataflow.byid import ByIdIndex
from geocode_dataflow.pipeline import jobs
from geocode_dataflow.pipeline.jobs import InputObject, JobRecord
from geocode_dataflow.pipeline.observability import MetricUnit, bind_job, logger, metrics
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import (
    CONTENT_TYPES,
    EXTENSIONS,
    input_mapping,
    result_format,
    result_key,
)
from geocode_dataflow.schema import FeedWriter, GeocodeEntity, jsonlines, open_feed
from geocode_dataflow.schema.columns import RESPONSE_TEXT_COLUMNS
from geocode_dataflow.schema.issues import ignore_issues

# A file needs at most this many parts (a day of Bing jobs at the service's 50 a day), and
# holds at most this many entities (what the large batch services take in one job; counting
# more would let a small gzip keep the submit function busy for minutes).
MAX_PARTS = 50
MAX_FILE_ENTITIES = 1_000_000


def file_entity_limit(per_job: int) -> int:
    """The most entities one file may hold when each provider job takes ``per_job``."""
    return max(per_job, min(per_job * MAX_PARTS, MAX_FILE_ENTITIES))


NO_RESULT = "The provider returned no result for this entity."
UNAVAILABLE = "ServiceUnavailable"
PLAIN_FORMATS = ("table", "xlsx")


def part_id(job_id: str, index: int) -> str:
    return f"{job_id}-p{index:03d}"


def part_key(work_prefix: str, job_id: str, index: int, fmt: str) -> str:
    return f"{work_prefix}{job_id}/parts/{index:03d}.{EXTENSIONS.get(fmt, 'txt')}"


def part_folder(work_prefix: str, record: JobRecord) -> str:
    """Where a part's own result sets go (the parent's folder gets the merged ones)."""
    return f"{work_prefix}{record.parent_job_id}/parts/{record.job_id}/"


def split(
    record: JobRecord, fmt: str, per_part: int, objects: ObjectStore, store: Any, work: str
) -> list[str]:
    """Write the parts of a validated file and record one QUEUED child job per part."""
    source = record.input
    children: list[str] = []
    mapping = input_mapping(objects, source.key) if fmt in PLAIN_FORMATS else None
    part_format = result_format(fmt)  # a plain table's parts are v2.0 csv
    with (
        objects.open(source.key, source.version_id) as body,
        open_feed(body, source.key, on_issue=ignore_issues, mapping=mapping) as reader,
        tempfile.TemporaryDirectory(prefix="parts-") as folder,
    ):
        entities = iter(reader)
        layout: dict[str, Any]
        if fmt in PLAIN_FORMATS:
            columns = [c for c in reader.columns or [] if c]
            layout = {"columns": [*columns, *RESPONSE_TEXT_COLUMNS]}
        else:
            layout = {"header": reader.header, "version_line": reader.version_line}
        layout["version"] = record.output_version  # a 1.0 file's parts are 1.0, as it is
        fmt = part_format
        while True:
            path = Path(folder) / f"{len(children)}.part"
            with path.open("wb") as sink:
                count = _write_part(entities, sink, fmt, per_part, layout)
            if count == 0:
                break
            index = len(children) + 1
            key = part_key(work, record.job_id, index, fmt)
            objects.put_file(key, path, CONTENT_TYPES.get(fmt, "text/plain"))
            child = part_id(record.job_id, index)
            _record_part(store, child, record, index, count, fmt, objects.bucket, key)
            children.append(child)
            path.unlink()
    return children


def _write_part(
    entities: Iterator[GeocodeEntity], sink: BinaryIO, fmt: str, limit: int, layout: dict
) -> int:
    options = {
        k: v for k, v in layout.items() if v is not None and (fmt != "xml" or k == "version")
    }
    writer = FeedWriter(sink, fmt, **options)
    for entity in entities:
        writer.write(entity)
        if writer.count >= limit:
            break
    if writer.count:
        writer.close()
    return writer.count


def _record_part(
    store: Any,
    child: str,
    parent: JobRecord,
    index: int,
    count: int,
    fmt: str,
    bucket: str,
    key: str,
) -> None:
    try:
        store.claim(child, InputObject(bucket=bucket, key=key))
    except jobs.JobAlreadyExistsError:
        return  # an earlier attempt of this split recorded it
    store.update(
        child,
        provider=parent.provider,
        input_format=fmt,
        schema_version=parent.schema_version,
        total_entities=count,
        parent_job_id=parent.job_id,
        part=index,
        status=jobs.QUEUED,
        queued_reason=f"part {index} of {parent.job_id}",
    )


def part_ended(record: JobRecord, services: Any) -> None:
    """A part ended: when it was the last one, complete its parent."""
    store = services.store
    parent = store.get(str(record.parent_job_id))
    if parent is None or parent.status in jobs.FINAL_STATUSES or not parent.parts:
        return
    parts = [store.get(child) for child in parent.parts]
    if any(p is None or p.status not in jobs.FINAL_STATUSES for p in parts):
        return
    keys = logger.get_current_keys()
    try:
        bind_job(parent.job_id)
        complete_parent(parent, [p for p in parts if p is not None], services)
    finally:
        bind_job(record.job_id, keys.get("execution_id"))


def complete_parent(parent: JobRecord, parts: list[JobRecord], services: Any) -> None:
    from geocode_dataflow.pipeline.deliver import publish_tables
    from geocode_dataflow.pipeline.download import results_folder
    from geocode_dataflow.pipeline.notify import announce

    config, objects, store = services.config, services.objects, services.store
    folder = results_folder(parent, config)
    fmt = result_format(parent.input_format)
    outputs, counts = _merge(parts, fmt, objects, folder, parent.output_version)
    tables, summary = publish_tables(parent, outputs, objects, folder)
    outputs = {**outputs, **tables, "job": objects.uri(f"{folder}job.json")}
    completed = [p for p in parts if p.status == jobs.COMPLETED]
    now = jobs.utc_now()
    final = {
        "status": jobs.COMPLETED if completed else jobs.FAILED,
        "processed_entities": sum(p.processed_entities or 0 for p in parts),
        "provider_requests": sum(p.provider_requests or 0 for p in parts) or None,
        "succeeded_entities": counts["succeeded"],
        "failed_entities": counts["failed"],
        "completed_at": jobs.iso(now),
        "outputs": outputs,
        "summary": summary,
    }
    if not completed:
        final["error"] = {"type": "PartsFailedError", "message": "every part of the job failed"}
    final = {k: v for k, v in final.items() if v is not None}
    objects.put_json(f"{folder}job.json", parent.to_document() | final)
    if store.update(parent.job_id, allowed_from=frozenset({jobs.PENDING}), **final):
        metrics.add_metric(name="JobsCompleted", unit=MetricUnit.Count, value=1)
        logger.info("Job of parts completed", extra={"parts": len(parts), **counts})
        announce(services, parent.job_id)


def _merge(
    parts: list[JobRecord], fmt: str, objects: ObjectStore, folder: str, version: str
) -> tuple[dict[str, str], dict[str, int]]:
    """The parts' result sets as one succeeded and one failed set, in input order."""
    counts = {"succeeded": 0, "failed": 0}
    with tempfile.TemporaryDirectory(prefix="merge-") as work:
        paths = {which: Path(work) / which for which in counts}
        with paths["succeeded"].open("wb") as ok, paths["failed"].open("wb") as bad:
            layout = _result_layout(parts, objects)
            options = {} if fmt == "xml" else layout
            options["version"] = version
            sinks = {
                "succeeded": FeedWriter(ok, fmt, **options),
                "failed": FeedWriter(bad, fmt, **options),
            }
            for part in parts:
                for which, entity in _part_in_input_order(part, objects, Path(work)):
                    sinks[which].write(entity)
                    counts[which] += 1
            for writer in sinks.values():
                writer.close()
        outputs = {}
        for which, path in paths.items():
            if counts[which]:
                key = result_key(folder, which, fmt)
                objects.put_file(key, path, CONTENT_TYPES.get(fmt, "text/plain"))
                outputs[which] = objects.uri(key)
    return outputs, counts


def _result_layout(parts: list[JobRecord], objects: ObjectStore) -> dict[str, Any]:
    """The text columns of the parts' result sets (the service returns the uploaded ones)."""
    for part in parts:
        for uri in part.outputs.values():
            if uri.endswith(".json"):
                continue
            with (
                objects.open(objects.key_of(uri)) as body,
                open_feed(body, uri, on_issue=ignore_issues) as reader,
            ):
                if reader.columns is not None:
                    return {"columns": [c for c in reader.columns if c]}
    return {}


def _part_in_input_order(
    part: JobRecord, objects: ObjectStore, work: Path
) -> Iterator[tuple[str, GeocodeEntity]]:
    """(set, entity) for every entity of the part's input, in its order."""
    reason = (part.error or {}).get("message") or NO_RESULT
    with ByIdIndex(work) as index:
        if part.status == jobs.COMPLETED:
            for which in ("succeeded", "failed"):
                if which not in part.outputs:
                    continue
                key = objects.key_of(part.outputs[which])
                with (
                    objects.open(key) as body,
                    open_feed(body, key, on_issue=ignore_issues) as reader,
                ):
                    index.add(which, ((e.id or "", jsonlines.dumps(e)) for e in reader))
        source = part.input
        with (
            objects.open(source.key) as body,
            open_feed(body, source.key, on_issue=ignore_issues) as reader,
        ):
            for entity in reader:
                found = index.latest(entity.id or "")
                if found:
                    yield found[0], jsonlines.loads(found[1])
                else:
                    entity.responses = []
                    entity.status_code = UNAVAILABLE
                    entity.fault_reason = NO_RESULT if part.status == jobs.COMPLETED else reason
                    yield "failed", entity
