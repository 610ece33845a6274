"""Values are read as the service reads them, not as Python would: ASCII digits and the
schema's number forms only (``Decimal``/``int``/``float`` also take ``2.0e0``, ``1_0``,
``٢``), and an XML declaration that no parser can honour is an error."""

from __future__ import annotations

import io

import pytest
from geocode_dataflow.schema import (
    FeedError,
    GeocodeEntity,
    ReverseGeocodeRequest,
    check_entity,
    open_feed,
    validate_feed,
)

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"


def xml_feed(version: str = "2.0", request: str = '<GeocodeRequest Query="q"/>') -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<GeocodeFeed Version="{version}" xmlns="{NS}">\n'
        f'<GeocodeEntity Id="1">{request}</GeocodeEntity>\n</GeocodeFeed>\n'
    ).encode()


def text_feed(version: str) -> bytes:
    return f"Bing Spatial Data Services, {version}\nId,GeocodeRequest/Query\n1,q\n".encode()


@pytest.mark.parametrize("version", ["2.0", "2", "2.00", "02.0", "+2.0", " 2.0 ", "2."])
def test_decimal_forms_of_version_2_are_accepted(version):
    assert validate_feed(io.BytesIO(xml_feed(version))).valid
    assert validate_feed(io.BytesIO(text_feed(version.strip()))).valid


@pytest.mark.parametrize(
    "version",
    ["\u0662.\u0660", "2.0e0", "2e0", "2_0", "\uff12.\uff10", "2.0\u00a0", "0x2", "3.0"],
    ids=["arabic", "exponent", "exponent-int", "underscore", "fullwidth", "nbsp", "hex", "three"],
)
def test_other_spellings_of_the_version_are_refused(version):
    for data, line in ((xml_feed(version), 2), (text_feed(version), 1)):
        report = validate_feed(io.BytesIO(data))
        assert [(e.code, e.line) for e in report.errors] == [("wrong-version", line)], version
        message = report.errors[0].message
        if version == "3.0":
            assert "only Data Schema 2.0 and 1.0 exist" in message
        else:
            assert "not a decimal number" in message and "ASCII digits" in message


@pytest.mark.parametrize(
    ("value", "read"),
    [("5", 5), ("+5", 5), ("05", 5), ("21", 21), ("-1", -1)],
)
def test_max_results_integers(value, read):
    data = xml_feed(request=f'<GeocodeRequest Query="q" MaxResults="{value}"/>')
    (entity,) = list(open_feed(io.BytesIO(data)))
    assert entity.geocode_request.max_results == read


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1_0", "not an integer"),
        ("\u0665", "not an integer"),
        ("5.0", "not an integer"),
        ("0x5", "not an integer"),
        ("1" * 5_000, "far outside 1..20"),
    ],
    ids=["underscore", "arabic-digit", "decimal", "hex", "huge"],
)
def test_max_results_other_than_ascii_integers_are_invalid(value, says):
    data = xml_feed(request=f'<GeocodeRequest Query="q" MaxResults="{value}"/>')
    report = validate_feed(io.BytesIO(data))
    (error,) = report.errors
    assert (error.code, error.line) == ("invalid-value", 3)
    assert says in error.message
    with pytest.raises(FeedError):
        list(open_feed(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("latitude", "ok"),
    [
        ("47.6", True),
        ("-47", True),
        ("+47.", True),
        (".5", True),
        ("4.76e1", True),
        ("4\u0667.6", False),
        ("4_7.6", False),
        ("inf", False),
        ("nan", False),
        ("1e999", False),
        ("\u0664\u0667", False),
        ("47.6\u2003", False),
    ],
)
def test_coordinates_are_xs_double_in_ascii(latitude, ok):
    entity = GeocodeEntity(
        id="1", reverse_geocode_request=ReverseGeocodeRequest(latitude=latitude, longitude="2")
    )
    codes = [finding.code for finding in check_entity(entity)]
    assert codes == ([] if ok else ["invalid-location"]), latitude


def test_number_like_cells_with_odd_digits_are_still_formula_suspects():
    data = b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,-12.5\n2,-1_0\n"
    report = validate_feed(io.BytesIO(data))
    assert [(w.code, w.entity_id) for w in report.warnings] == [("formula-injection", "2")]


@pytest.mark.parametrize("declared", ["UTF-16", "utf-16le", "UTF16", "ucs-2", "utf-32"])
def test_a_utf8_file_declaring_a_wide_encoding_is_an_error(declared):
    data = xml_feed().replace(b'encoding="utf-8"', f'encoding="{declared}"'.encode())
    report = validate_feed(io.BytesIO(data))
    assert [(e.code, e.line) for e in report.errors] == [("declared-encoding", 1)]
    assert "byte-order mark" in report.errors[0].message
    with pytest.raises(FeedError) as info:
        open_feed(io.BytesIO(data))
    assert info.value.code == "declared-encoding"


def test_a_utf8_file_declaring_a_utf8_alias_or_latin1_is_fine_or_a_remark():
    for declared, remark in (("UTF-8", False), ("unicode-1-1-utf-8", True), ("latin1", True)):
        data = xml_feed().replace(b'encoding="utf-8"', f'encoding="{declared}"'.encode())
        report = validate_feed(io.BytesIO(data))
        assert report.valid, report.to_text()
        assert ("declared-encoding" in report.warning_codes) is remark, declared
