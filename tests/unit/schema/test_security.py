"""Hostile XML is refused before anything is expanded or fetched."""

from __future__ import annotations

import io
import socket

import pytest
from geocode_dataflow.schema import FeedError, open_feed, validate_feed

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE GeocodeFeed [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<GeocodeFeed Version="2.0">
<GeocodeEntity Id="&lol9;"><GeocodeRequest Query="q"/></GeocodeEntity></GeocodeFeed>
"""


def external(system_id: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE GeocodeFeed [ <!ENTITY xxe SYSTEM "{system_id}"> ]>
<GeocodeFeed Version="2.0">
<GeocodeEntity Id="1"><GeocodeRequest Query="&xxe;"/></GeocodeEntity></GeocodeFeed>
""".encode()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the parser tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        external("file:///etc/passwd"),
        external("http://127.0.0.1:9/evil.dtd"),
        b'<?xml version="1.0"?>\n<!DOCTYPE GeocodeFeed SYSTEM "http://127.0.0.1:9/x.dtd">\n'
        b'<GeocodeFeed Version="2.0"/>',
        b'<?xml version="1.0"?>\n<!DOCTYPE GeocodeFeed>\n<GeocodeFeed Version="2.0"/>',
    ],
    ids=["billion-laughs", "xxe-file", "xxe-http", "external-dtd", "plain-dtd"],
)
def test_dtds_are_refused_without_expansion_or_network(data, no_network):
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(data)))
    assert info.value.code == "dtd-forbidden"
    assert info.value.line == 2
    assert "root:" not in str(info.value)
    report = validate_feed(io.BytesIO(data))
    assert not report.valid and [issue.code for issue in report.errors] == ["dtd-forbidden"]


def test_undeclared_entity_reference_is_not_well_formed():
    data = b'<GeocodeFeed Version="2.0"><GeocodeEntity Id="&xxe;"/></GeocodeFeed>'
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(data)))
    assert info.value.code == "not-well-formed"


def test_huge_unterminated_quoted_csv_cell_is_bounded():
    data = b'Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,"' + b"x" * 300_000
    report = validate_feed(io.BytesIO(data))
    assert not report.valid and report.errors[0].code == "malformed-row"
