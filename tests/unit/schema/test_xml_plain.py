"""Plain XML entities recognised by their text (``schema.xmlplain``) report what the element
handlers report.

Files are generated in the layouts real writers use (indented or on one line, LF, CRLF or CR,
double or single quotes, self-closing or closed elements, attributes in any order) with
entities the pattern takes and entities it must not (a formula, a blank value, an unknown
attribute, a second Address, a comment or CDATA inside), between comments, CDATA sections and
processing instructions that hold entity-like text, read in chunks that cut anywhere. The report
with the pattern must be the report without it (the handlers reading every entity), line for
line; and the pattern must actually have taken entities, so that the comparison means something.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest
from geocode_dataflow.schema import validate_feed, xmlfeed
from geocode_dataflow.schema.validate import Limits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMESPACE = "http://schemas.microsoft.com/search/local/2010/5/geocode"
VALUES = ["Main St", "1 Harbour Road", "a-b", "=1+2", "-5", " x", "x ", "", "Köln", "a>b", "a&amp;b",
          "a&#10;b", "98052"]  # fmt: skip
COORDINATES = ["47.6", "-122.3", "90", "-180.0", "91", "4.7e1", " 47.6"]


@st.composite
def entity(draw) -> str:
    """One ``<GeocodeEntity>`` as text, with ``{q}`` for the quote and ``{n}`` for a line end."""
    ident = draw(
        st.sampled_from(["E{i}", "E{i}", "E{i} ", " E{i}", "", "=E{i}", "é{i}", "E1", None])
    )
    attrs = [] if ident is None else [f"Id={{q}}{ident}{{q}}"]
    if draw(st.integers(0, 9)) == 0:
        attrs.append("Extra={q}1{q}")
    children = []
    close = draw(st.sampled_from(["/>", "></{name}>", " />"]))

    def element(name: str, values: dict[str, str]) -> str:
        order = draw(st.permutations(list(values)))
        text = "".join(f" {key}={{q}}{values[key]}{{q}}" for key in order)
        return f"<{name}{text}{close.format(name=name)}"

    if draw(st.booleans()):
        request = {"Culture": "en-US"} if draw(st.booleans()) else {}
        if draw(st.booleans()):
            request["Query"] = draw(st.sampled_from(VALUES))
        if draw(st.integers(0, 9)) == 0:
            request["MaxResults"] = "5"
        inner = []
        if draw(st.booleans()):
            parts = draw(
                st.dictionaries(
                    st.sampled_from(["AddressLine", "Locality", "AdminDistrict2", "PostalCode",
                                     "FormattedAddress"]),
                    st.sampled_from(VALUES), max_size=3,
                )
            )  # fmt: skip
            inner.append(element("Address", parts))
        if draw(st.booleans()):
            level = draw(st.sampled_from(["Medium", "High", "low", ""]))
            inner.append(element("ConfidenceFilter", {"MinimumConfidence": level}))
        if draw(st.integers(0, 14)) == 0:
            inner.append(inner[0] if inner else "<!-- a note -->")
        inner = draw(st.permutations(inner))
        head = "".join(f" {key}={{q}}{value}{{q}}" for key, value in request.items())
        body = "{n}".join(inner)
        children.append(
            f"<GeocodeRequest{head}/>"
            if not inner and draw(st.booleans())
            else f"<GeocodeRequest{head}>{{n}}{body}{{n}}</GeocodeRequest>"
        )
    if draw(st.booleans()) or not children:
        location = {
            "Latitude": draw(st.sampled_from(COORDINATES)),
            "Longitude": draw(st.sampled_from(COORDINATES)),
        }
        if draw(st.integers(0, 9)) == 0:
            del location["Longitude"]
        inner = [element("Location", location)]
        if draw(st.booleans()):
            inner.append(element("ConfidenceFilter", {"MinimumConfidence": "Low"}))
        inner = draw(st.permutations(inner))
        culture = draw(
            st.sampled_from(["", " Culture={q}en-US{q}", " IncludeEntityTypes={q}Address{q}"])
        )
        children.append(
            f"<ReverseGeocodeRequest{culture}>{{n}}{'{n}'.join(inner)}{{n}}</ReverseGeocodeRequest>"
        )
    if draw(st.integers(0, 14)) == 0:
        children.append("<![CDATA[ x ]]>")
    return f"<GeocodeEntity{''.join(' ' + attr for attr in attrs)}>{{n}}{'{n}'.join(children)}{{n}}</GeocodeEntity>"


# Between entities: text that looks like entities but is not one.
BETWEEN = [
    "",
    "",
    "",
    '<!-- <GeocodeEntity Id="c1"><GeocodeRequest Query="x"/></GeocodeEntity> -->',
    '<![CDATA[<GeocodeEntity Id="c2"><GeocodeRequest Query="x"/></GeocodeEntity>]]>',
    '<?note <GeocodeEntity Id="c3"><GeocodeRequest Query="x"/></GeocodeEntity> ?>',
    '<Unknown><GeocodeEntity Id="c4"><GeocodeRequest Query="x"/></GeocodeEntity></Unknown>',
    # Two in a row: the first is followed by the next one's start, as a real entity would be.
    '<!--<GeocodeEntity Id="c5"><GeocodeRequest Query="x"/></GeocodeEntity> <GeocodeEntity'
    ' Id="c6"><GeocodeRequest Query="x"/></GeocodeEntity>-->',
    '<![CDATA[<GeocodeEntity Id="c7"><GeocodeRequest Query="x"/></GeocodeEntity> <GeocodeEntity'
    ' Id="c8"><GeocodeRequest Query="x"/></GeocodeEntity>]]>',
]


@st.composite
def feed(draw) -> bytes:
    items = draw(st.lists(entity(), min_size=1, max_size=12))
    between = draw(st.lists(st.sampled_from(BETWEEN), min_size=len(items), max_size=len(items)))
    quote = draw(st.sampled_from(['"', "'"]))
    newline, indent = draw(st.sampled_from([("\n", "  "), ("\r\n", "\t"), ("\r", " "), ("", "")]))
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>{newline}<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">'
    ]
    for index, (item, extra) in enumerate(zip(items, between, strict=True)):
        text = (
            item.replace("{i}", str(index)).replace("{q}", quote).replace("{n}", newline + indent)
        )
        parts.append(extra + text if draw(st.booleans()) else text + extra)
    parts.append("</GeocodeFeed>")
    return (newline + indent).join(parts).encode()


def report_of(data: bytes, chunk: int, *, plain: bool, limits: Limits | None = None):
    taken = 0
    feed_plain = xmlfeed.XmlFeedParser._feed_plain

    def counting(self, pieces, groups):
        nonlocal taken
        taken += len(pieces)
        return feed_plain(self, pieces, groups)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xmlfeed, "READ_CHUNK", chunk)
        patch.setattr(xmlfeed.XmlFeedParser, "_feed_plain", counting)
        if not plain:
            patch.setattr(xmlfeed.XmlFeedParser, "_between_entities", lambda self: False)
        report = validate_feed(io.BytesIO(data), "f.xml", limits=limits)
    issues = [
        (issue.code, issue.line, issue.entity_id, issue.message, issue.count)
        for issue in (*report.errors, *report.warnings, *report.remarks)
    ]
    figures = (report.entity_count, report.geocode_count, report.reverse_count,
               report.invalid_entity_count, report.error_count, report.warning_count)  # fmt: skip
    return figures, Counter(issues), taken


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=feed(), chunk=st.sampled_from([7, 61, 200, 1 << 16]))
def test_the_pattern_reports_what_the_handlers_report(data, chunk):
    with_pattern = report_of(data, chunk, plain=True)
    without = report_of(data, chunk, plain=False)
    assert with_pattern[:2] == without[:2]
    assert without[2] == 0


def plain_feed(count: int, newline: str = "\n") -> bytes:
    entities = [
        f'  <GeocodeEntity Id="E{i}">{newline}    <GeocodeRequest Culture="en-US">{newline}'
        f'      <Address AddressLine="{i} Main St" Locality="Seaview" />{newline}'
        f"    </GeocodeRequest>{newline}  </GeocodeEntity>"
        if i % 3
        else f"  <GeocodeEntity Id='E{i}'><ReverseGeocodeRequest><Location Latitude='47.{i}' "
        f"Longitude='-122.{i}'/></ReverseGeocodeRequest></GeocodeEntity>"
        for i in range(count)
    ]
    return newline.join(
        [f'<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">', *entities, "</GeocodeFeed>"]
    ).encode()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_plain_entities_are_taken_by_the_pattern_with_their_lines(newline):
    data = plain_feed(3000, newline) + b"\n<!-- -->"
    data = data.replace(b'Id="E2999"', b'Id="E7"')  # a duplicate, reported with both lines
    with_pattern = report_of(data, 1 << 16, plain=True)
    without = report_of(data, 1 << 16, plain=False)
    assert with_pattern[:2] == without[:2]
    assert with_pattern[2] > 2900  # all but those the chunks cut through
    assert [issue[0] for issue in with_pattern[1]] == ["duplicate-id"]


def test_the_element_limit_falls_where_the_handlers_put_it():
    data = plain_feed(500)
    for limit in (1, 2, 3, 700, 1333, 1334, 10_000):
        limits = Limits(max_elements=limit)
        assert (
            report_of(data, 1 << 16, plain=True, limits=limits)[:2]
            == (report_of(data, 1 << 16, plain=False, limits=limits)[:2])
        ), limit


@pytest.mark.parametrize(
    "flaw",
    [
        ('Id="E40"', 'Id="E40" Id="E41"'),  # a duplicate attribute
        ('Locality="Seaview"', 'Locality="Sea\x01view"'),  # a character XML forbids
        ("</GeocodeRequest>", "</GeocodeRequest"),  # a tag left open
    ],
    ids=["duplicate-attribute", "control-character", "open-tag"],
)
def test_a_flaw_among_plain_entities_is_reported_as_the_handlers_report_it(flaw):
    data = plain_feed(300).decode().replace(*flaw, 1).encode()
    with_pattern = report_of(data, 1 << 16, plain=True)
    assert with_pattern[:2] == report_of(data, 1 << 16, plain=False)[:2]
    assert with_pattern[0][4] == 1  # one error: the file is not well-formed


PLAIN = (
    '<GeocodeEntity Id="P{i}"><GeocodeRequest Culture="en-US" Query="{i} Main St"/></GeocodeEntity>'
)
# Entities the pattern must leave to the handlers (or may take, giving the same report).
ODD = {
    "formula": '<GeocodeEntity Id="X"><GeocodeRequest Query="=1+2"/></GeocodeEntity>',
    "minus": '<GeocodeEntity Id="X"><GeocodeRequest Query="-5 Main St"/></GeocodeEntity>',
    "blank-id": '<GeocodeEntity Id=" "><GeocodeRequest Query="x"/></GeocodeEntity>',
    "spaced-id": '<GeocodeEntity Id=" P1 "><GeocodeRequest Query="x"/></GeocodeEntity>',
    "no-id": '<GeocodeEntity><GeocodeRequest Query="x"/></GeocodeEntity>',
    "formatted": '<GeocodeEntity Id="X"><GeocodeRequest><Address FormattedAddress="1 Main St"/>'
    "</GeocodeRequest></GeocodeEntity>",
    "landmark": '<GeocodeEntity Id="X"><GeocodeRequest><Address Landmark="Tower"/>'
    "</GeocodeRequest></GeocodeEntity>",
    "empty-address": '<GeocodeEntity Id="X"><GeocodeRequest><Address Locality=""/>'
    "</GeocodeRequest></GeocodeEntity>",
    "two-addresses": '<GeocodeEntity Id="X"><GeocodeRequest><Address Locality="a"/>'
    '<Address Locality="b"/></GeocodeRequest></GeocodeEntity>',
    "unknown-attribute": '<GeocodeEntity Id="X" Note="1"><GeocodeRequest Query="x"/></GeocodeEntity>',
    "max-results": '<GeocodeEntity Id="X"><GeocodeRequest Query="x" MaxResults="50"/></GeocodeEntity>',
    "confidence-case": '<GeocodeEntity Id="X"><GeocodeRequest Query="x"><ConfidenceFilter '
    'MinimumConfidence="high"/></GeocodeRequest></GeocodeEntity>',
    "latitude-range": '<GeocodeEntity Id="X"><ReverseGeocodeRequest><Location Latitude="91" '
    'Longitude="0"/></ReverseGeocodeRequest></GeocodeEntity>',
    "exponent": '<GeocodeEntity Id="X"><ReverseGeocodeRequest><Location Latitude="4.7e1" '
    'Longitude="0"/></ReverseGeocodeRequest></GeocodeEntity>',
    "no-longitude": '<GeocodeEntity Id="X"><ReverseGeocodeRequest><Location Latitude="47"/>'
    "</ReverseGeocodeRequest></GeocodeEntity>",
    "both-requests": '<GeocodeEntity Id="X"><GeocodeRequest Query="x"/><ReverseGeocodeRequest>'
    '<Location Latitude="47" Longitude="0"/></ReverseGeocodeRequest></GeocodeEntity>',
    "character-reference": '<GeocodeEntity Id="X"><GeocodeRequest Query="&#61;1"/></GeocodeEntity>',
    "line-end-in-value": '<GeocodeEntity Id="X"><GeocodeRequest Query="a\n=b"/></GeocodeEntity>',
    "comment-inside": '<GeocodeEntity Id="X"><!-- --><GeocodeRequest Query="x"/></GeocodeEntity>',
    "text-element": '<GeocodeEntity Id="X"><GeocodeRequest Query="x"/><StatusCode>Success'
    "</StatusCode></GeocodeEntity>",
    "namespace": '<GeocodeEntity Id="X" xmlns="urn:other"><GeocodeRequest Query="x"/>'
    "</GeocodeEntity>",
    "prefixed": '<g:GeocodeEntity xmlns:g="urn:g" Id="X"><g:GeocodeRequest Query="x"/>'
    "</g:GeocodeEntity>",
    "self-closing": '<GeocodeEntity Id="X"/>',
}


@pytest.mark.parametrize("chunk", [7, 61, 1 << 16])
@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
def test_an_entity_the_pattern_must_not_take_is_read_by_the_handlers(odd, chunk):
    entities = [PLAIN.format(i=i) for i in range(6)]
    entities.insert(3, odd)
    data = "\n".join(
        [f'<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">', *entities, "</GeocodeFeed>"]
    ).encode()
    with_pattern = report_of(data, chunk, plain=True)
    assert with_pattern[:2] == report_of(data, chunk, plain=False)[:2]
    if chunk > len(data):
        assert with_pattern[2] >= 3  # the plain entities before it


def test_a_comment_full_of_entity_tags_costs_one_feed_per_chunk(monkeypatch):
    """expat before 2.6 reads an open token again from its start on each feed: a comment
    holding 50,000 ``<GeocodeEntity`` must not be fed piece by piece (minutes of parsing)."""
    comment = "<!--" + "<GeocodeEntity" * 50_000 + "-->"
    data = (
        f'<GeocodeFeed Version="2.0" xmlns="{NAMESPACE}">\n{comment}\n{PLAIN.format(i=1)}\n'
        f"{PLAIN.format(i=2)}\n</GeocodeFeed>"
    ).encode()
    feeds = 0
    feed = xmlfeed.XmlFeedParser._feed

    def counted(self, text):
        nonlocal feeds
        feeds += 1
        return feed(self, text)

    monkeypatch.setattr(xmlfeed.XmlFeedParser, "_feed", counted)
    with_pattern = report_of(data, 1 << 16, plain=True)
    chunks = len(data) // (1 << 16) + 1
    assert feeds <= 3 * chunks + 3
    assert with_pattern[:2] == report_of(data, 1 << 16, plain=False)[:2]
    assert with_pattern[0][0] == 2
