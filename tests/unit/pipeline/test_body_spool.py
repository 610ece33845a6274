"""The BodySpool: which files are sent from the read that validated them."""

from __future__ import annotations

import codecs
import gzip
import io

import pytest
from geocode_dataflow.pipeline.body_spool import BodySpool, _sent_as_read
from geocode_dataflow.pipeline.storage import CopyingReader
from geocode_dataflow.schema import validate_feed

VERSION = b"Bing Spatial Data Services, 2.0\n"


def csv_feed(count: int) -> bytes:
    rows = b"".join(b"%d,Denver CO,\n" % i for i in range(count))
    return VERSION + b"Id,GeocodeRequest/Query,StatusCode\n" + rows


def xml_feed(count: int) -> bytes:
    entity = (
        b'<GeocodeEntity Id="%d"><GeocodeRequest Culture="en-US" Query="Denver"/></GeocodeEntity>\n'
    )
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n<GeocodeFeed '
        b'xmlns="http://schemas.microsoft.com/search/local/2010/5/geocode" Version="2.0">\n'
        + b"".join(entity % i for i in range(count))
        + b"</GeocodeFeed>\n"
    )


def spooled(name: str, data: bytes, *, size: int | None = None):
    """Validate ``data`` through a BodySpool as the submit does: the spool, report and body."""
    spool = BodySpool()
    with CopyingReader(io.BytesIO(data), spool.write) as stream:
        report = validate_feed(stream, name)
        if report.valid:
            spool.drain(stream)
    return spool, report, spool.body(report, len(data) if size is None else size)


@pytest.mark.parametrize(
    "name, data",
    [("big.xml", xml_feed(3000)), ("big.csv", csv_feed(5000)), ("small.xml", xml_feed(3))],
)
def test_a_file_sent_as_read_comes_out_of_the_spool_whole(name, data):
    spool, report, body = spooled(name, data)
    with spool:
        assert report.valid and body is not None
        stored = body.reader().read()
        assert (gzip.decompress(stored) if body.compressed else stored) == data
        assert body.source_length == len(data)


@pytest.mark.parametrize(
    "name, data",
    [
        ("bom.csv", codecs.BOM_UTF8 + csv_feed(10)),
        ("utf16.csv", codecs.BOM_UTF16_LE + csv_feed(10).decode().encode("utf-16-le")),
        ("packed.xml.gz", gzip.compress(xml_feed(10))),
        ("table.csv", b"id,city,state\n1,Denver,CO\n2,Boise,ID\n"),
    ],
    ids=["utf-8 BOM", "utf-16", "gzip", "plain table"],
)
def test_a_file_rewritten_before_sending_stops_the_spool_at_its_first_bytes(name, data):
    spool, report, body = spooled(name, data)
    assert report.valid, report.errors
    assert body is None


def test_an_invalid_file_gives_no_body():
    duplicate = csv_feed(100).replace(b"\n1,", b"\n0,")
    spool, report, body = spooled("dup.csv", duplicate)
    assert not report.valid and body is None


def test_a_body_that_is_not_the_whole_object_is_not_used():
    data = csv_feed(100)
    spool, report, body = spooled("a.csv", data, size=len(data) + 1)
    assert report.valid and body is None


@pytest.mark.parametrize(
    "head, verdict",
    [
        (b"<?x", None),  # too short to say
        (b"<?xml version", True),
        (VERSION, True),
        (b'  "Bing Spatial Data Services"|2.0\r\n', True),
        (b"Bing Spatial Data Ser", None),  # the first line is not complete yet
        (b"id,city\n", False),
        (b"\x1f\x8b\x08\x00", False),
        (b"PK\x03\x04", False),
        (codecs.BOM_UTF8 + b"<?xml", False),
        (b"<\x00?\x00", False),
    ],
)
def test_the_first_bytes_rule_out_what_is_not_sent_as_read(head, verdict):
    assert _sent_as_read(head) is verdict
