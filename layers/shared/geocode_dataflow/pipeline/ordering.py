"""The service's result sets put back in input order before they are published.

The service returns entities in an order of its own: its sets are stored as they come, then
each is read back and rewritten under the same key in the order of the job's input
(``results.order``; the service's own order stays in the bucket as the object's previous
version until the lifecycle expires it). The match runs through an on-disk index in the
function's temporary storage, in constant memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

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
from geocode_dataflow.results.order import write_in_input_order
from geocode_dataflow.schema import PLAIN_FORMATS, open_feed
from geocode_dataflow.schema.issues import ignore_issues


def needs_reordering(record: JobRecord) -> bool:
    """The service's own jobs; engine providers assemble in input order, and a part's sets
    are put in order when its parent's are merged (``parts``)."""
    return (record.provider or BING_DATAFLOW) == BING_DATAFLOW and not record.parent_job_id


def in_input_order(
    record: JobRecord, stored: StoredResults, objects: ObjectStore, folder: str
) -> StoredResults:
    """``stored``'s sets (as the service sent them) rewritten in input order under ``folder``,
    where the provider stored them; counts unchanged. All is read before anything is written."""
    fmt = result_format(record.input_format)
    outputs: dict[str, str] = {}
    keys = {
        which: objects.key_of(stored.outputs[which])
        for which in RESULT_SETS
        if which in stored.outputs
    }
    with tempfile.TemporaryDirectory(prefix="ordering-") as work, ExitStack() as stack:
        paths = {which: Path(work) / which for which in keys}
        sinks = {which: stack.enter_context(path.open("wb")) for which, path in paths.items()}
        write_in_input_order(
            {which: (key, partial(objects.open, key)) for which, key in keys.items()},
            _input_ids(record, objects),
            sinks,
            Path(work),
            fmt=fmt,
            version=record.output_version,
        )
        for sink in sinks.values():
            sink.close()
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
        open_feed(body, source.key, on_issue=ignore_issues, mapping=mapping) as reader,
    ):
        for entity in reader:
            yield entity.id or ""
