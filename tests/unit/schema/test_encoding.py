"""Encodings and compression: UTF-8 +/- BOM, UTF-16 with BOM, gzip; everything else refused."""

from __future__ import annotations

import codecs
import gzip
import io

import pytest
from geocode_dataflow.schema import FeedError, open_feed, utf8_chunks, validate_feed

TEXT = "Bing Spatial Data Services, 2.0\r\nId,GeocodeRequest/Query\r\n1,Zürich Straße\r\n2,東京\r\n"


def entities(data: bytes, filename: str | None = None):
    with open_feed(io.BytesIO(data), filename) as reader:
        return reader.encoding, [(e.id, e.geocode_request.query) for e in reader]


EXPECTED = [("1", "Zürich Straße"), ("2", "東京")]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-bom"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
    ],
)
def test_supported_encodings_read_the_same(data, encoding):
    assert entities(data) == (encoding, EXPECTED)
    assert entities(gzip.compress(data), "x.csv.gz") == (encoding, EXPECTED)


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        gzip.compress(codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")),
    ],
)
def test_utf8_chunks_is_plain_utf8_without_bom(data):
    assert b"".join(utf8_chunks(io.BytesIO(data), chunk_size=7)) == TEXT.encode("utf-8")


def test_utf8_chunks_relabels_a_utf16_xml_declaration():
    xml = '<?xml version="1.0" encoding="utf-16"?>\n<GeocodeFeed Version="2.0"/>\n'
    out = b"".join(utf8_chunks(io.BytesIO(codecs.BOM_UTF16_LE + xml.encode("utf-16-le"))))
    assert out.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    # ... and the XML reader reads the UTF-16 original despite its declaration.
    assert (
        validate_feed(io.BytesIO(codecs.BOM_UTF16_LE + xml.encode("utf-16-le"))).errors[0].code
        == "no-entities"
    )


def test_latin1_bytes_are_rejected_with_offset_and_line():
    data = TEXT.replace("東京", "x").encode("latin-1")  # ü is 0xfc in Latin-1
    offset = data.index(b"\xfc")
    with pytest.raises(FeedError) as info:
        entities(data)
    assert info.value.code == "undecodable"
    assert info.value.offset == offset and info.value.line == 3
    assert "0xfc" in str(info.value)


def test_bad_byte_far_into_the_file_gets_the_right_offset():
    good = "Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n" + "".join(
        f"{i},q\n" for i in range(50_000)
    )
    data = good.encode() + b"\xe9x\n"
    with pytest.raises(FeedError) as info:
        entities(data)
    assert info.value.offset == len(good.encode())
    assert info.value.line == good.count("\n") + 1


def test_truncated_multibyte_sequence_at_end_is_rejected():
    data = TEXT.encode() + "é".encode()[:1]
    with pytest.raises(FeedError) as info:
        entities(data)
    assert info.value.code == "undecodable" and info.value.offset == len(data) - 1


def test_utf8_chunks_raises_on_undecodable_bytes():
    with pytest.raises(FeedError):
        b"".join(utf8_chunks(io.BytesIO(b"abc\xff")))


def test_utf16_without_bom_is_refused_with_a_hint():
    with pytest.raises(FeedError) as info:
        entities(TEXT.encode("utf-16-le"))
    assert "without a byte-order mark" in str(info.value)


def test_gzip_of_garbage_and_truncated_gzip_are_file_errors():
    report = validate_feed(io.BytesIO(gzip.compress(b"\x00\xff garbage")))
    assert not report.valid
    truncated = gzip.compress(TEXT.encode() * 100)[:-20]
    with pytest.raises(FeedError) as info:
        entities(truncated)
    assert info.value.code == "bad-gzip"
    corrupt = b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate at all"
    report = validate_feed(io.BytesIO(corrupt))
    assert [e.code for e in report.errors] == ["bad-gzip"]
    assert report.compressed is False or report.format is None


def test_non_seekable_streams_are_read(tmp_path):
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            block = self._data.read(min(len(buffer), 3))  # short reads on purpose
            buffer[: len(block)] = block
            return len(block)

        def seekable(self) -> bool:
            return False

    assert [(e.id) for e in open_feed(OneWay(gzip.compress(TEXT.encode())))] == ["1", "2"]


def test_paths_are_opened_and_closed(tmp_path):
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(TEXT.encode()))
    with open_feed(path) as reader:
        assert reader.compressed and reader.format == "csv"
        assert len(list(reader)) == 2
    assert b"".join(utf8_chunks(str(path))) == TEXT.encode()


def test_utf32_is_refused():
    with pytest.raises(FeedError, match="UTF-32"):
        entities(codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"))


def test_callers_stream_is_left_open():
    stream = io.BytesIO(gzip.compress(TEXT.encode()))
    with open_feed(stream) as reader:
        list(reader)
    assert not stream.closed
    validate_feed(stream := io.BytesIO(TEXT.encode()))
    assert not stream.closed


def test_nul_bytes_in_a_text_row_are_a_file_error():
    report = validate_feed(io.BytesIO(TEXT.encode() + b"3,a\x00b\n"))
    assert [issue.code for issue in report.errors] == ["nul-character"]
    assert report.errors[0].line == 5


def test_xml_declaring_another_encoding_than_its_bytes_is_a_warning():
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<GeocodeFeed Version="2.0"><GeocodeEntity Id="1"><GeocodeRequest Query="Zürich"/>'
        "</GeocodeEntity></GeocodeFeed>"
    )
    report = validate_feed(io.BytesIO(xml.encode()))
    assert report.valid and "declared-encoding" in report.warning_codes
    with open_feed(io.BytesIO(xml.encode())) as reader:
        assert [e.geocode_request.query for e in reader] == ["Zürich"]
    utf16 = codecs.BOM_UTF16_LE + xml.replace("ISO-8859-1", "UTF-16").encode("utf-16-le")
    assert "declared-encoding" not in validate_feed(io.BytesIO(utf16)).warning_codes


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"], ids=["lf", "cr", "crlf"])
def test_an_undecodable_byte_is_reported_on_its_line_whatever_the_line_ends(newline):
    rows = ["Bing Spatial Data Services, 2.0", "Id,GeocodeRequest/Query", "1,a", "2,b", "3,caf"]
    data = newline.join(rows).encode() + b"\xe9" + newline.encode()
    (issue,) = validate_feed(io.BytesIO(data)).errors
    assert (issue.code, issue.line) == ("undecodable", 5)
    # UTF-16: the same line, counted on the transcoded text.
    wide = codecs.BOM_UTF16_LE + newline.join(rows).encode("utf-16-le") + b"\x00\xd8x\x00"
    (issue,) = validate_feed(io.BytesIO(wide)).errors
    assert (issue.code, issue.line) == ("undecodable", 5)


def test_a_crlf_split_between_two_chunks_ends_one_line():
    from geocode_dataflow.schema.encoding import DecodedSource

    # Every chunk size, so that some chunk ends between each CR and its LF.
    data = b"abcdef\r\nab\r\ncdefgh\r\n\xff"
    for chunk in range(1, len(data) + 1):
        decoded = DecodedSource(io.BytesIO(data), chunk_size=chunk)
        with pytest.raises(FeedError) as info:
            decoded.binary.read()
        assert info.value.line == 4, chunk
        decoded.close()
