"""Upload benchmark: which gzip level the Create Job body is built with.

The body of a 200,000-entity feed (XML and v2.0 csv, varied addresses as real files have them)
goes through the project's own ``UploadSpool`` at levels 1, 3, 6 and 9. Printed per level:
compression speed (MB of feed per second of CPU), the ratio (body / feed), and what the
submit Lambda spends on a 300 MB feed at the limit: seconds compressing, seconds sending the
body at 10 and 50 MB/s. Run: ``pytest tests/benchmarks/test_upload_bench.py -m benchmark -s``.
Nothing is asserted on time.
"""

from __future__ import annotations

import gzip
import random
import time

import pytest
from geocode_dataflow.client.upload import GZIP_LEVEL, UploadSpool
from geocode_dataflow.schema import (
    Address,
    GeocodeEntity,
    GeocodeRequest,
    ReverseGeocodeRequest,
    write_feed,
)

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

ENTITIES = 200_000
LEVELS = (1, 3, 6, 9)
LIMIT_MB = 300  # the service's per-job limit, uncompressed
LINKS_MB_S = (10, 50)  # upload bandwidth to the service: a modest and a good internet path
CHUNK = 1 << 20

STREETS = (
    "Main Pine Oak Maple Cedar Elm Washington Lake Hill Park Sunset Jefferson Lincoln Madison "
    "Jackson Franklin Highland Spring Church Mill Center River Forest Meadow Ridge Willow Valley "
    "Broadway Market Union Cherry Walnut Chestnut Spruce Birch Aspen Harbor Bay Summit Prospect "
    "Grove Orchard Dogwood Magnolia Lakeview Riverside Fairview Greenwood Kingston Hampton"
).split()
KINDS = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Way", "Ct", "Pl", "Ter", "Pkwy", "Hwy")
CITIES = (
    ("Seattle", "WA", "981"), ("Spokane", "WA", "992"), ("Portland", "OR", "972"),
    ("Boise", "ID", "837"), ("Denver", "CO", "802"), ("Austin", "TX", "787"),
    ("Dallas", "TX", "752"), ("Phoenix", "AZ", "850"), ("Tucson", "AZ", "857"),
    ("Chicago", "IL", "606"), ("Boston", "MA", "021"), ("Atlanta", "GA", "303"),
    ("Miami", "FL", "331"), ("Nashville", "TN", "372"), ("Columbus", "OH", "432"),
    ("Madison", "WI", "537"), ("Omaha", "NE", "681"), ("Albany", "NY", "122"),
    ("Richmond", "VA", "232"), ("Raleigh", "NC", "276"), ("Salt Lake City", "UT", "841"),
    ("Sacramento", "CA", "958"), ("San Diego", "CA", "921"), ("Minneapolis", "MN", "554"),
)  # fmt: skip
# The request columns the entities fill, and the response columns the service writes back.
CSV_COLUMNS = [
    "Id",
    "GeocodeRequest/Culture",
    "GeocodeRequest/Query",
    "GeocodeRequest/Address/AddressLine",
    "GeocodeRequest/Address/AdminDistrict",
    "GeocodeRequest/Address/CountryRegion",
    "GeocodeRequest/Address/Locality",
    "GeocodeRequest/Address/PostalCode",
    "ReverseGeocodeRequest/Location/Latitude",
    "ReverseGeocodeRequest/Location/Longitude",
    "GeocodeResponse/Point/Latitude",
    "GeocodeResponse/Point/Longitude",
    "GeocodeResponse/Confidence",
    "StatusCode",
    "FaultReason",
]
UNITS = ("", "", "", "", "Apt 4B", "Suite 210", "Unit 12", "# 3")


def realistic_entities(count: int, seed: int = 12):
    """Forward requests (structured addresses, some free-form) and 1 in 5 reverse ones."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 5 == 4:
            yield GeocodeEntity(
                id=f"{rng.randrange(10**9):09d}-{i}",
                reverse_geocode_request=ReverseGeocodeRequest(
                    latitude=f"{rng.uniform(25, 49):.6f}",
                    longitude=f"{rng.uniform(-124, -67):.6f}",
                    culture="en-US",
                ),
            )
            continue
        city, state, zip3 = rng.choice(CITIES)
        line = f"{rng.randrange(1, 20000)} {rng.choice(STREETS)} {rng.choice(KINDS)}"
        unit = rng.choice(UNITS)
        if unit:
            line = f"{line} {unit}"
        zip_code = f"{zip3}{rng.randrange(100):02d}"
        if i % 7 == 3:
            request = GeocodeRequest(culture="en-US", query=f"{line}, {city}, {state} {zip_code}")
        else:
            request = GeocodeRequest(
                culture="en-US",
                address=Address(
                    address_line=line,
                    locality=city,
                    admin_district=state,
                    postal_code=zip_code,
                    country_region="United States",
                ),
            )
        yield GeocodeEntity(id=f"{rng.randrange(10**9):09d}-{i}", geocode_request=request)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("upload-bench")
    made = {}
    for fmt in ("xml", "csv"):
        path = folder / f"feed.{fmt}"
        with path.open("wb") as sink:
            columns = CSV_COLUMNS if fmt == "csv" else None
            write_feed(realistic_entities(ENTITIES), sink, fmt, columns=columns)
        made[fmt] = path.read_bytes()
    return made


def _spool_at(level: int, data: bytes) -> tuple[float, int]:
    """CPU seconds and body bytes for ``data`` pushed through an UploadSpool at ``level``."""
    spool = UploadSpool(level=level)
    started = time.process_time()
    for start in range(0, len(data), CHUNK):
        spool.write(data[start : start + CHUNK])
    with spool.finish("xml") as body:
        seconds = time.process_time() - started
        length = body.length
        assert gzip.decompress(body.reader().read()) == data  # the body is the feed
    return seconds, length


def test_upload_gzip_levels(feeds):
    print(f"\ngzip levels of the Create Job body, {ENTITIES:,} entities (chosen: {GZIP_LEVEL})")
    sends = " | ".join(f"send at {mb} MB/s" for mb in LINKS_MB_S)
    print(f"| feed | level | MB/s | ratio | {LIMIT_MB} MB: compress | {sends} |")
    print("|---|---|---|---|---|" + "---|" * len(LINKS_MB_S))
    for fmt, data in feeds.items():
        megabytes = len(data) / 1e6
        for level in LEVELS:
            seconds, length = _spool_at(level, data)
            speed = megabytes / seconds
            ratio = length / len(data)
            at_limit = [f"{LIMIT_MB * ratio / mb:.1f} s" for mb in LINKS_MB_S]
            print(
                f"| {fmt} ({megabytes:.0f} MB) | {level} | {speed:.0f} | {ratio:.3f} | "
                f"{LIMIT_MB / speed:.1f} s | " + " | ".join(at_limit) + " |"
            )
