"""The tables people use, made when a job's result sets are stored: results.csv, results.geojson
and the match summary (``results``), beside ``succeeded`` / ``failed``.

The input is read again from S3 (its version), the result sets from where the download put
them; the join runs in the function's temporary storage. A job whose tables cannot be made
still completes with its result sets, and says why in its summary.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from geocode_dataflow.pipeline.jobs import JobRecord
from geocode_dataflow.pipeline.observability import logger
from geocode_dataflow.pipeline.storage import ObjectStore
from geocode_dataflow.providers import input_mapping
from geocode_dataflow.results import build_results
from geocode_dataflow.results.build import CSV_NAME, GEOJSON_NAME
from geocode_dataflow.results.tables import input_table
from geocode_dataflow.schema import PLAIN_FORMATS, FeedError, GeocodeEntity, open_feed
from geocode_dataflow.schema.issues import ignore_issues

TABLE_OUTPUTS = {"results_csv": CSV_NAME, "results_geojson": GEOJSON_NAME}
CONTENT_TYPES = {
    "results_csv": "text/csv; charset=utf-8",
    "results_geojson": "application/geo+json",
}


def _entities(objects: ObjectStore, key: str) -> Iterator[GeocodeEntity]:
    with objects.open(key) as body, open_feed(body, key, on_issue=ignore_issues) as reader:
        yield from reader


def publish_tables(
    record: JobRecord, outputs: dict[str, str], objects: ObjectStore, folder: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Write the tables into ``folder``; returns (their URIs, the match summary)."""
    source = record.input
    fmt = record.input_format
    mapping = input_mapping(objects, source.key) if fmt in PLAIN_FORMATS else None
    table = input_table(
        fmt, lambda: objects.open(source.key, source.version_id), source.key, mapping
    )
    sets = [
        (functools.partial(_entities, objects, objects.key_of(outputs[name])), name == "failed")
        for name in ("succeeded", "failed")
        if name in outputs
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="tables-") as work:
            built = build_results(table, sets, Path(work))
            uris = {}
            for name, filename in TABLE_OUTPUTS.items():
                path = built.csv_path if name == "results_csv" else built.geojson_path
                objects.put_file(f"{folder}{filename}", path, CONTENT_TYPES[name])
                uris[name] = objects.uri(f"{folder}{filename}")
    except (FeedError, OSError, ClientError) as exc:  # e.g. the input deleted meanwhile
        # The result sets are stored: the job completes, and says what it could not make.
        logger.error("Could not make results.csv / results.geojson", exc_info=True)
        return {}, {"error": f"the result tables could not be made: {type(exc).__name__}: {exc}"}
    return uris, built.summary.to_dict()
