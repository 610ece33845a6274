"""Hostile XML is refused before anything is expanded or fetched, and fails fast when huge."""

from __future__ import annotations

import io
import socket

import pytest
from geocode_dataflow.schema import FeedError, open_feed, validate_feed
from geocode_dataflow.schema.text import MAX_FIELD_CHARS
from geocode_dataflow.schema.xmlfeed import MAX_TOKEN_BYTES

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


# -- size bounds: a corrupt or hostile XML file fails fast -----------------------------------

NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"


def xml_feed(body: str) -> bytes:
    """A feed whose ``body`` starts on line 3 (past the first line, which is read up front)."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<GeocodeFeed Version="2.0" xmlns="{NS}">\n'
        f'{body}\n<GeocodeEntity Id="ok"><GeocodeRequest Query="q"/></GeocodeEntity>\n'
        "</GeocodeFeed>\n"
    ).encode()


def text_feed_bytes(query: str) -> bytes:
    return f"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,{query}\n".encode()


BIG = 3 << 20  # 3 MiB: well past MAX_TOKEN_BYTES, small enough to build quickly


@pytest.mark.parametrize(
    "body",
    [
        f'<GeocodeEntity Id="a"><GeocodeRequest Query="{"A" * BIG}"/></GeocodeEntity>',
        f"<!--{'c' * BIG}-->",
        f"<?note {'p' * BIG}?>",
        f"<{'N' * BIG}/>",
        # Every value under the per-field limit, the tag as a whole far beyond a token's.
        "<GeocodeEntity Id='a'><GeocodeRequest "
        + " ".join(f'A{i}="{"v" * 100_000}"' for i in range(30))
        + "/></GeocodeEntity>",
        # Unterminated: the rest of the file is swallowed by the attribute value.
        f'<GeocodeEntity Id="a"><GeocodeRequest Query="{"A" * BIG}',
    ],
    ids=[
        "attribute",
        "comment",
        "processing-instruction",
        "tag-name",
        "many-attributes",
        "unterminated-attribute",
    ],
)
def test_a_huge_xml_token_is_refused_after_reading_little(body):
    data = xml_feed(body)
    report = validate_feed(io.BytesIO(data), "huge.xml")
    assert not report.valid
    (issue,) = report.errors
    assert (issue.code, issue.line) == ("token-too-large", 3), report.to_text()
    assert "larger than 1 MiB" in issue.message and "probably corrupt" in issue.message
    # Reading stopped soon after the token passed the limit, not at the end of the file: this
    # is what keeps the time linear with expat < 2.6, which re-scans an incomplete token from
    # its start on every chunk fed.
    assert report.utf8_bytes < (MAX_TOKEN_BYTES + (1 << 20)) < len(data)
    with pytest.raises(FeedError) as info:
        list(open_feed(io.BytesIO(data)))
    assert info.value.code == "token-too-large"


def test_a_token_just_under_the_limit_is_read():
    body = f"<!--{'c' * (MAX_TOKEN_BYTES - 1000)}-->\n" + "".join(
        f'<GeocodeEntity Id="{i}"><GeocodeRequest Query="q{i}"/></GeocodeEntity>\n'
        for i in range(1000)
    )
    report = validate_feed(io.BytesIO(xml_feed(body)), "big-comment.xml")
    assert report.valid and report.entity_count == 1001, report.to_text()


def test_long_text_and_many_entities_on_one_line_are_not_a_big_token():
    # Minified XML: the whole file on one line, ~5 MB, and a text element of 100 KB.
    body = "".join(
        f'<GeocodeEntity Id="{i}"><GeocodeRequest Culture="en-US" Query="{i} Harbour Road, '
        f'Seaview, WA"><ConfidenceFilter MinimumConfidence="Medium"/></GeocodeRequest>'
        f"<TraceId>{'t' * (100_000 if i == 7 else 10)}</TraceId></GeocodeEntity>"
        for i in range(40_000)
    )
    data = xml_feed(body).replace(b"\n", b"")
    assert len(data) > 5 * MAX_TOKEN_BYTES
    report = validate_feed(io.BytesIO(data), "minified.xml")
    assert report.valid and report.entity_count == 40_001, report.to_text()


@pytest.mark.parametrize(
    ("element", "where"),
    [
        ('<GeocodeEntity Id="a"><GeocodeRequest Query="{}"/></GeocodeEntity>', "<GeocodeRequest Query>"),
        ('<GeocodeEntity Id="{}"><GeocodeRequest Query="q"/></GeocodeEntity>', "<GeocodeEntity Id>"),
        ('<GeocodeEntity Id="a"><GeocodeRequest><Address Locality="{}"/></GeocodeRequest>'
         "</GeocodeEntity>", "<Address Locality>"),
        ('<GeocodeEntity Id="a"><GeocodeRequest Query="q" Nickname="{}"/></GeocodeEntity>',
         "<GeocodeRequest Nickname>"),
        ('<GeocodeEntity Id="a" xmlns:x="urn:x" x:note="{}"><GeocodeRequest Query="q"/>'
         "</GeocodeEntity>", "<GeocodeEntity note>"),
        ('<GeocodeEntity Id="a"><GeocodeRequest Query="q"/><FaultReason>{}</FaultReason>'
         "</GeocodeEntity>", "the text of <FaultReason>"),
    ],
    ids=["query", "id", "address", "unknown-attribute", "namespaced-attribute", "text"],
)  # fmt: skip
def test_xml_values_have_the_text_formats_cell_limit(element, where):
    # 2-byte characters: the limit counts characters, as the csv module does for cells.
    at_limit, over = "é" * MAX_FIELD_CHARS, "é" * (MAX_FIELD_CHARS + 1)
    assert validate_feed(io.BytesIO(xml_feed(element.format(at_limit))), "f.xml").valid
    assert validate_feed(io.BytesIO(text_feed_bytes(at_limit)), "f.csv").valid

    report = validate_feed(io.BytesIO(xml_feed(element.format(over))), "f.xml")
    (issue,) = report.errors
    assert (issue.code, issue.line) == ("value-too-long", 3), report.to_text()
    assert issue.message.startswith(f"{where} is longer than 131,072 characters")
    text_report = validate_feed(io.BytesIO(text_feed_bytes(over)), "f.csv")
    assert not text_report.valid and "131,072" in text_report.errors[0].message


def test_long_text_is_refused_before_it_is_all_read():
    data = xml_feed(
        f'<GeocodeEntity Id="a"><GeocodeRequest Query="q"/><TraceId>{"t" * BIG}</TraceId>'
        "</GeocodeEntity>"
    )
    report = validate_feed(io.BytesIO(data), "long-text.xml")
    assert [issue.code for issue in report.errors] == ["value-too-long"]
    assert report.utf8_bytes < (1 << 20) < len(data)


def test_attributes_of_ignored_elements_are_bounded_only_as_a_token():
    # Dropped unread (an unknown-element remark), like an unknown column's cells are not; only
    # the tag size bounds them.
    data = xml_feed(
        f'<GeocodeEntity Id="a"><Extra note="{"x" * (MAX_FIELD_CHARS + 1)}"/>'
        '<GeocodeRequest Query="q"/></GeocodeEntity>'
    )
    report = validate_feed(io.BytesIO(data), "extra.xml")
    assert report.valid and [w.code for w in report.warnings] == ["unknown-element"]
