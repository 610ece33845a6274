"""A provider's result sets rewritten in the order of the job's input.

The Bing service returns entities in an order of its own (protocol reference §6: a real XML
output came back 002, 003, 001). Its sets are read into an on-disk index by Id (``byid``),
then written again as the input's Ids come: the service's entities, unchanged, each in the set
the service put it in. Nothing is dropped: an entity whose Id the input lacks (or a second one
under an Id) follows at the end, in the service's order. Used by the pipeline
(``pipeline.ordering``, sets in S3) and by the client CLI's ``run`` (sets on disk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from geocode_dataflow.byid import ByIdIndex
from geocode_dataflow.schema import FeedWriter, jsonlines, open_feed
from geocode_dataflow.schema.issues import ignore_issues


def write_in_input_order(
    sets: dict[str, tuple[str, Callable[[], BinaryIO]]],
    input_ids: Iterable[str],
    sinks: dict[str, BinaryIO],
    work: Path,
    *,
    fmt: str | None = None,
    version: str | None = None,
) -> dict[str, int]:
    """Each set (``sets``: its name -> its file name, which tells its format, and a function
    opening it as the service wrote it) written to ``sinks[name]`` in the order of
    ``input_ids``; returns how many entities each got.

    ``fmt`` / ``version``: what to write (default: the set's own format and Data Schema
    version); a text set keeps its columns, header and version line. ``work``: where the
    index goes. Every set is read before anything is written.
    """
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        index = stack.enter_context(ByIdIndex(work))
        writers: dict[str, FeedWriter] = {}
        for which, (name, opener) in sets.items():
            body = stack.enter_context(opener())
            with open_feed(body, name, on_issue=ignore_issues) as reader:
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
                writers[which] = FeedWriter(
                    sinks[which],
                    fmt or reader.format,
                    **layout,
                    version=version or reader.schema_version or "2.0",
                )
            counts[which] = 0
        for which, line in _in_order(index, iter(input_ids)):
            writers[which].write(jsonlines.loads(line))
            counts[which] += 1
        for writer in writers.values():
            writer.close()
    return counts


def _in_order(index: ByIdIndex, ids: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(set, entity) for each input Id the service answered, then every entity left, each
    entity once."""
    for entity_id in ids:
        found = index.take(entity_id)
        if found is not None:
            yield found
    yield from index.untaken()
