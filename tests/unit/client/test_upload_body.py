"""The Create Job body: built from pulled chunks (prepare_upload) or pushed ones (UploadSpool)."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from geocode_dataflow.client.upload import (
    GZIP_LEVEL,
    GZIP_THRESHOLD,
    OCTET_STREAM,
    UploadSpool,
    prepare_upload,
)

FEED = b"".join(
    f'<GeocodeEntity Id="{i}"><GeocodeRequest Query="{i} Main St"/></GeocodeEntity>\n'.encode()
    for i in range(20_000)
)


def pushed(data: bytes, block: int) -> UploadSpool:
    spool = UploadSpool()
    for start in range(0, len(data), block):
        spool.write(data[start : start + block])
    return spool


def test_a_pushed_body_is_the_body_prepare_upload_pulls():
    with (
        prepare_upload(io.BytesIO(FEED), "xml") as pulled,
        pushed(FEED, 65_536).finish("xml") as body,
    ):
        assert body.compressed and body.content_type == OCTET_STREAM
        assert body.source_length == len(FEED) and body.length < len(FEED) / 5
        assert body.reader().read() == pulled.reader().read()
        assert gzip.decompress(body.reader().read()) == FEED


def test_the_body_is_compressed_at_the_chosen_level():
    with pushed(FEED, 1 << 20).finish("xml") as body:
        expected = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        assert body.reader().read() == expected.compress(FEED) + expected.flush()


def test_a_body_can_be_sent_again_and_read_again():
    with pushed(FEED, 10_000).finish("xml") as body:
        first = body.payload().read()
        assert len(body.payload()) == body.length
        assert body.payload().read() == first  # a resend after a 503 starts at the first byte
        view = body.reader()
        assert view.read(10) + view.read() == first
        assert body.payload().read() == first  # reading it did not move the payload


@pytest.mark.parametrize("fmt, content_type", [("xml", "application/xml"), ("csv", "text/plain")])
def test_a_small_feed_goes_as_it_is(fmt, content_type):
    small = FEED[:GZIP_THRESHOLD]
    with pushed(small, 1000).finish(fmt) as body:
        assert not body.compressed and body.content_type == content_type
        assert body.payload() == small and body.reader().read() == small


def test_data_that_is_already_gzip_is_not_compressed_again():
    packed = gzip.compress(FEED)
    with pushed(packed, 50_000).finish("xml") as body:
        assert body.compressed and body.reader().read() == packed
