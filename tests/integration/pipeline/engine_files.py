"""Input files and helpers shared by the engine providers' end-to-end tests (Amazon Location,
Azure Maps): a mixed text feed in any delimiter, generated feeds of any size, run and read."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from geocode_dataflow.schema import open_feed
from local_pipeline.stack import LocalPipeline

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pipeline"
HEADER = (
    "Id, GeocodeRequest/Culture, GeocodeRequest/Query, GeocodeRequest/Address/AddressLine, "
    "GeocodeRequest/Address/Locality, GeocodeRequest/Address/AdminDistrict, "
    "GeocodeRequest/Address/PostalCode, ReverseGeocodeRequest/Location/Latitude, "
    "ReverseGeocodeRequest/Location/Longitude, GeocodeResponse/Point/Latitude, "
    "GeocodeResponse/Point/Longitude, GeocodeResponse/EntityType, GeocodeResponse/Confidence, "
    "StatusCode, FaultReason, TraceId"
)
PLACES = ["Denver, CO", "Boise, ID", "Portland, OR", "Austin, TX", "Seattle, WA", "Reno, NV"]


def text_file(delimiter: str, rows: list[list[str]]) -> bytes:
    """A Data Schema v2.0 text feed; values holding the delimiter are quoted (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    buffer.write("Bing Spatial Data Services, 2.0\n" + HEADER.replace(", ", f"{delimiter} ") + "\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def many_rows(
    count: int, prefix: str = "e", cultures: tuple[str, ...] = ("en-US",)
) -> list[list[str]]:
    """Forward queries of known towns, every fifth row a reverse request."""
    rows = []
    for i in range(count):
        culture = cultures[i % len(cultures)]
        if i % 5 == 4:
            rows.append(
                [
                    f"{prefix}{i}",
                    culture,
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{40 + i % 7}.1",
                    f"-{100 + i % 9}.2",
                ]
            )
        else:
            rows.append([f"{prefix}{i}", culture, PLACES[i % len(PLACES)]])
    return rows


def run(pipeline: LocalPipeline, data: bytes | Path, name: str | None = None, timeout: float = 180):
    job_id = pipeline.drop(data, name)
    record = pipeline.wait(job_id, timeout=timeout)
    assert record.status == "COMPLETED", (record.status, record.error)
    return record


def read_set(pipeline: LocalPipeline, record, which: str):
    body = pipeline.read(record.outputs[which])
    with open_feed(body, record.outputs[which].rsplit("/", 1)[-1]) as feed:
        return feed.format, list(feed)
