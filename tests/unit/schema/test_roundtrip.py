"""Property tests: what a format can carry survives writing, reading and chains of conversions."""

from __future__ import annotations

import io
import itertools

from geocode_dataflow.schema import (
    FORMATS,
    Address,
    BoundingBox,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Issue,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
    convert_feed,
    open_feed,
    text_losses,
    write_feed,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values as every format can hold them: trimmed (readers trim), non-empty (empty == absent),
# no control characters other than TAB/CR/LF (XML 1.0 cannot carry them), no surrogates.
_chars = st.characters(
    blacklist_categories=("Cs", "Cc", "Cn"),
    whitelist_characters="\t\r\n,|\"' <>&=",
)
value = st.text(_chars, min_size=1, max_size=12).map(str.strip).filter(bool)
maybe = st.none() | value
coordinate = st.floats(-90, 90, allow_nan=False).map(lambda f: f"{f:.6f}")
flag = st.sampled_from([None, True])

REQUEST_PARTS = (
    "address_line", "admin_district", "country_region", "admin_district2",
    "formatted_address", "locality", "postal_code", "postal_town",
)  # fmt: skip
RESPONSE_PARTS = (*REQUEST_PARTS, "landmark", "neighborhood")


def address(parts: tuple[str, ...]) -> st.SearchStrategy[Address]:
    return (
        st.fixed_dictionaries({part: maybe for part in parts})
        .map(lambda values: Address(**values))
        .filter(lambda a: not a.is_empty())
    )


points = st.builds(
    GeocodePoint,
    latitude=coordinate,
    longitude=coordinate,
    calculation_method=maybe,
    type=st.sampled_from(["Point", None]),
    usage_types=st.sampled_from(["Display", "Route", "Display, Route", None]),
)
response = st.builds(
    GeocodeResponse,
    name=maybe,
    entity_type=maybe,
    confidence=st.sampled_from([None, "High", "Medium", "Low"]),
    match_codes=maybe,
    address=st.none() | address(RESPONSE_PARTS),
    geocode_points=st.lists(points, max_size=3),
    query_parse_values=st.lists(st.builds(QueryParseValue, value, value), max_size=2),
    bounding_box=st.none() | st.builds(BoundingBox, coordinate, coordinate, coordinate, coordinate),
    point=st.none() | st.builds(Point, coordinate, coordinate),
)


def _response_visible(r: GeocodeResponse) -> bool:
    return any((r.name, r.entity_type, r.confidence, r.match_codes, r.address, r.geocode_points,
                r.query_parse_values, r.bounding_box, r.point))  # fmt: skip


@st.composite
def text_entity(draw) -> GeocodeEntity:
    """An entity with only what csv/tab/pipe can carry (see convert.py)."""
    forward = draw(
        st.none()
        | st.builds(
            GeocodeRequest,
            culture=maybe,
            query=maybe,
            address=st.none() | address(REQUEST_PARTS),
            min_confidence=st.sampled_from([None, "Low", "High"]),
            strict_match=flag,
        )
    )
    reverse = draw(
        st.none()
        | st.builds(
            ReverseGeocodeRequest,
            latitude=coordinate,
            longitude=coordinate,
            culture=maybe,
            include_entity_types=maybe,
            min_confidence=st.sampled_from([None, "Medium"]),
        )
    )
    if forward is not None:
        carried_alone = forward.query or forward.address or forward.strict_match
        if reverse is not None:
            # One Culture/MinimumConfidence column for both, and only forward-only cells make a
            # second request on a reverse row.
            reverse.culture, reverse.min_confidence = forward.culture, forward.min_confidence
            if not carried_alone:
                forward.query = draw(value)
        elif not (carried_alone or forward.culture or forward.min_confidence):
            forward.query = draw(value)
    responses = draw(st.lists(response.filter(_response_visible), max_size=1))
    return GeocodeEntity(
        id=draw(value),
        geocode_request=forward,
        reverse_geocode_request=reverse,
        responses=responses,
        status_code=draw(st.sampled_from([None, "Success", "BadRequest"])),
        fault_reason=draw(maybe),
        trace_id=draw(maybe),
    )


@st.composite
def xml_entity(draw) -> GeocodeEntity:
    """Anything the model holds, as XML carries it (booleans True or absent: false is dropped)."""
    entity = draw(text_entity())
    if entity.geocode_request is not None:
        entity.geocode_request.include_neighborhood = draw(flag)
        entity.geocode_request.include_query_parse = draw(flag)
        entity.geocode_request.max_results = draw(st.none() | st.integers(1, 20))
        entity.geocode_request.address = draw(
            st.none() | st.just(Address()) | address(RESPONSE_PARTS)
        )
    if entity.reverse_geocode_request is not None:
        entity.reverse_geocode_request.include_neighborhood = draw(flag)
        entity.reverse_geocode_request.max_results = draw(st.none() | st.integers(1, 20))
        entity.reverse_geocode_request.culture = draw(maybe)
    entity.responses = draw(st.lists(response, max_size=3))
    return entity


def unique_ids(entities: list[GeocodeEntity]) -> list[GeocodeEntity]:
    for index, entity in enumerate(entities):
        entity.id = f"{index}-{entity.id}"
    return entities


def round_trip(entities: list[GeocodeEntity], fmt: str) -> list[GeocodeEntity]:
    sink = io.BytesIO()
    write_feed(entities, sink, fmt)
    with open_feed(io.BytesIO(sink.getvalue()), fmt=fmt) as reader:
        return list(reader)


@SETTINGS
@given(st.lists(text_entity(), min_size=1, max_size=4).map(unique_ids), st.sampled_from(FORMATS))
def test_any_format_round_trips_what_it_can_carry(entities, fmt):
    assert all(text_losses(entity) == [] for entity in entities)
    assert round_trip(entities, fmt) == entities


@SETTINGS
@given(st.lists(xml_entity(), min_size=1, max_size=4).map(unique_ids))
def test_xml_round_trips_the_whole_model(entities):
    assert round_trip(entities, "xml") == entities


@SETTINGS
@given(
    st.lists(text_entity(), min_size=1, max_size=3).map(unique_ids),
    st.permutations(FORMATS),
)
def test_chains_of_conversions_through_all_formats_keep_the_entities(entities, order):
    sink = io.BytesIO()
    write_feed(entities, sink, order[0])
    data = sink.getvalue()
    for target in itertools.chain(order[1:], order[:1]):
        out = io.BytesIO()
        losses: list[Issue] = []
        assert convert_feed(io.BytesIO(data), out, target, losses=losses) == len(entities)
        assert losses == []
        data = out.getvalue()
    with open_feed(io.BytesIO(data)) as reader:
        assert reader.format == order[0]
        assert list(reader) == entities


def test_conversion_to_text_reports_what_is_dropped():
    entity = GeocodeEntity(
        id="1",
        geocode_request=GeocodeRequest(
            query="q", culture="en-US", max_results=5, include_neighborhood=True
        ),
        reverse_geocode_request=ReverseGeocodeRequest(latitude="1", longitude="2", culture="fr-FR"),
        responses=[GeocodeResponse(name="a"), GeocodeResponse(name="b")],
    )
    xml = io.BytesIO()
    write_feed([entity], xml, "xml")
    losses: list[Issue] = []
    out = io.BytesIO()
    convert_feed(io.BytesIO(xml.getvalue()), out, "csv", losses=losses)
    (issue,) = losses
    assert issue.code == "dropped-in-conversion" and issue.entity_id == "1"
    for fragment in (
        "1 GeocodeResponse(s)",
        "MaxResults=5",
        "IncludeNeighborhood=true",
        "Culture='fr-FR'",
    ):
        assert fragment in issue.message
    (back,) = list(open_feed(io.BytesIO(out.getvalue())))
    assert [r.name for r in back.responses] == ["a"]
    assert back.geocode_request.max_results is None


def test_text_to_text_conversion_keeps_the_source_columns(fixture_path):
    out = io.BytesIO()
    convert_feed(fixture_path("output.pipe"), out, "tab")
    with (
        open_feed(io.BytesIO(out.getvalue())) as converted,
        open_feed(fixture_path("output.pipe")) as original,
    ):
        assert converted.format == "tab"
        assert converted.columns == original.columns
        assert list(converted) == list(original)
