"""The Bing service's result sets put back in input order before they are published.

The service returns entities in an order of its own (protocol reference §6: a real XML output
came back 002, 003, 001). Its sets are stored as they come, then each is read back and
rewritten under the same key in the order of the job's input, matched by Id: the service's
entities, unchanged, in the set the service put them in (the service's own order stays in the
bucket as the object's previous version until the lifecycle expires it). Nothing is dropped:
an entity whose Id the input lacks follows at the end, in the service's order. The match runs
through an on-disk index (SQLite in the function's temporary storage), in constant memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from geocode_dataflow.byid import ByIdIndex
from geocode_dataflow.pipeline.config import BING_DATAFLOW
from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import (
    CONTENT_TYPES,
    RESULT_SETS,
    StoredResults,
    input_mapping,
    result_format,
    result_key,
)
from geocode_dataflow.schema import PLAIN_FORMATS, FeedWriter, jsonlines, open_feed


def needs_reordering(record: JobRecord) -> bool:
    """The service's own jobs; engine providers assemble in input order, and a part's sets
    are put in order when its parent's are merged (``parts``)."""
    return (record.provider or BING_DATAFLOW) == BING_DATAFLOW and not record.parent_job_id


def _ignore(issue: Any, is_error: bool) -> None:
    """The input was validated; the result sets are the service's."""


def in_input_order(
    record: JobRecord, stored: StoredResults, objects: ObjectStore, folder: str
) -> StoredResults:
    """``stored``'s sets (as the service sent them) rewritten in input order under ``folder``,
    where the provider stored them; counts unchanged. All is read before anything is written."""
    fmt = result_format(record.input_format)
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ordering-") as work, ExitStack() as stack:
        index = stack.enter_context(ByIdIndex(work))
        writers: dict[str, FeedWriter] = {}
        sinks: dict[str, Any] = {}
        paths: dict[str, Path] = {}
        for which in RESULT_SETS:
            if which not in stored.outputs:
                continue
            key = objects.key_of(stored.outputs[which])
            with objects.open(key) as body, open_feed(body, key, on_issue=_ignore) as reader:
                layout = (
                    {}
                    if reader.format == "xml"
                    else {
                        "columns": reader.columns,
                        "header": reader.header,
                        "version_line": reader.version_line,
                    }
                )
                index.add(which, ((e.id or "", jsonlines.dumps(e)) for e in reader))
            paths[which] = Path(work) / which
            sinks[which] = stack.enter_context(paths[which].open("wb"))
            writers[which] = FeedWriter(sinks[which], fmt, **layout, version=record.output_version)
        for which, line in _in_order(index, _input_ids(record, objects)):
            writers[which].write(jsonlines.loads(line))
        for which, writer in writers.items():
            writer.close()
            sinks[which].close()
        for which, path in paths.items():
            key = result_key(folder, which, fmt)
            objects.put_file(key, path, CONTENT_TYPES.get(fmt, "text/plain"))
            outputs[which] = objects.uri(key)
    return StoredResults(
        outputs=outputs,
        total=stored.total,
        processed=stored.processed,
        failed=stored.failed,
        requests=stored.requests,
    )


def _input_ids(record: JobRecord, objects: ObjectStore) -> Iterator[str]:
    """The Ids of the job's input in file order, as the entities sent to the service had them
    (a plain table read with its sidecar mapping, as it was sent)."""
    source = record.input
    mapping = input_mapping(objects, source.key) if record.input_format in PLAIN_FORMATS else None
    with (
        objects.open(source.key, source.version_id) as body,
        open_feed(body, source.key, on_issue=_ignore, mapping=mapping) as reader,
    ):
        for entity in reader:
            yield entity.id or ""


def _in_order(index: ByIdIndex, ids: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(set, entity) for each input Id the service answered, then every entity left, each
    entity once."""
    for entity_id in ids:
        found = index.take(entity_id)
        if found is not None:
            yield found
    yield from index.untaken()
