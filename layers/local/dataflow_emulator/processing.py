"""Running a geocode job: read the upload, geocode each entity, write the two result sets.

One streaming pass writes both result sets at once, so memory stays flat whatever the job size
(except with the ``shuffled-output`` quirk, which must hold the job to shuffle it).
Results keep the upload's format; text results keep its version line, header and columns;
rows are shaped as the service's (``shaping``).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Iterator
from pathlib import Path

from geocode_dataflow.schema import FeedWriter, GeocodeEntity, open_feed
from geocode_dataflow.schema import fault_reason as service_fault_reason
from offline_geocoder import Geocoder

from .shaping import add_route_points, entity_trace_id
from .state import EmulatorState, GeocodeJob

logger = logging.getLogger(__name__)

_PROGRESS_EVERY = 50


def run_job(
    job: GeocodeJob,
    state: EmulatorState,
    geocoder: Geocoder,
    *,
    workdir: Path,
    quirks: set[str],
    node: str,
    seed: int,
) -> None:
    """Process ``job`` to completion; a failure ends the job Aborted instead of raising."""
    succeeded_path = workdir / f"{job.id}.succeeded"
    failed_path = workdir / f"{job.id}.failed"
    try:
        _finish(
            job, state, geocoder, succeeded_path, failed_path, quirks=quirks, node=node, seed=seed
        )
    finally:
        job.upload_path.unlink(missing_ok=True)  # the results are all that is kept


def _finish(
    job: GeocodeJob,
    state: EmulatorState,
    geocoder: Geocoder,
    succeeded_path: Path,
    failed_path: Path,
    *,
    quirks: set[str],
    node: str,
    seed: int,
) -> None:
    try:
        counts, fmt = _process(
            job, state, geocoder, succeeded_path, failed_path, quirks=quirks, node=node, seed=seed
        )
    except Exception as exc:  # noqa: BLE001 - any failure must end the job Aborted, as the service does
        logger.exception("job %s failed", job.id)
        for path in (succeeded_path, failed_path):
            path.unlink(missing_ok=True)
        state.finish_job(
            job,
            succeeded=0,
            failed=0,
            result_paths={},
            output_format=job.input_format,
            error_message=f"The job could not be processed: {exc}",
        )
        return
    paths = {}
    for name, path, count in (
        ("succeeded", succeeded_path, counts[0]),
        ("failed", failed_path, counts[1]),
    ):
        if count:
            paths[name] = path
        else:
            path.unlink(missing_ok=True)  # no data, no link (and a 404 for the URL)
    state.finish_job(
        job, succeeded=counts[0], failed=counts[1], result_paths=paths, output_format=fmt
    )


def _process(
    job: GeocodeJob,
    state: EmulatorState,
    geocoder: Geocoder,
    succeeded_path: Path,
    failed_path: Path,
    *,
    quirks: set[str],
    node: str,
    seed: int,
) -> tuple[tuple[int, int], str]:
    with open_feed(job.upload_path, fmt=job.input_format) as reader:
        fmt = reader.format
        text = fmt != "xml"
        layout = (
            {
                "columns": reader.columns,
                "header": reader.header,
                "version_line": reader.version_line,
            }
            if text
            else {}
        )

        def geocoded() -> Iterator[GeocodeEntity]:
            for position, entity in enumerate(reader):
                _geocode(entity, geocoder, query_parse_default=text)
                add_route_points(entity, street_requests="route-points" in quirks)
                # Derived from the entity, so that a job run twice gives identical files.
                entity.trace_id = entity_trace_id(node, f"{seed}:{position}:{entity!r}")
                if text and "swapped-points" in quirks:
                    _swap_points(entity)
                failed = entity.status_code != "Success"
                if failed or (position + 1) % _PROGRESS_EVERY == 0:
                    state.record_progress(job, position + 1, position if failed else None)
                yield entity

        entities: Iterator[GeocodeEntity] = geocoded()
        # The results are in the upload's Data Schema version, which an XML reader knows once
        # it has read the root element: look at the first entity before writing.
        first = next(entities, None)
        if first is not None:
            entities = itertools.chain([first], entities)
        layout["version"] = reader.schema_version or "2.0"
        if "shuffled-output" in quirks:
            # The service does not keep input order (clients must join on Id): shuffle, seeded.
            shuffled = list(entities)
            random.Random(f"{seed}:{job.id}").shuffle(shuffled)
            entities = iter(shuffled)
        with (
            succeeded_path.open("wb") as ok_sink,
            failed_path.open("wb") as bad_sink,
            FeedWriter(ok_sink, fmt, **layout) as succeeded,
            FeedWriter(bad_sink, fmt, **layout) as failed,
        ):
            for entity in entities:
                (succeeded if entity.status_code == "Success" else failed).write(entity)
    return (succeeded.count, failed.count), fmt


def _geocode(entity: GeocodeEntity, geocoder: Geocoder, *, query_parse_default: bool) -> None:
    # The schema library's checks say which entities the service refuses and with what words;
    # sharing them keeps the emulator and the client's pre-flight validation in agreement.
    reason = service_fault_reason(entity)
    if reason is not None:
        entity.responses = []
        entity.status_code = "BadRequest"
        entity.fault_reason = reason
        return
    geocoder.process(entity, query_parse_default=query_parse_default)


def _swap_points(entity: GeocodeEntity) -> None:
    for response in entity.responses:
        for point in response.geocode_points:
            point.latitude, point.longitude = point.longitude, point.latitude
