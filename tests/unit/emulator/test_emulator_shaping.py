"""Result rows shaped like the service's: per-entity TraceIds with four parts (the last with a
comma, so text cells must be quoted), Display + Route points on address-level matches."""

import csv
import io
import json
import re

from dataflow_emulator.shaping import add_route_points, entity_trace_id
from geocode_dataflow.schema import (
    Address,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
)


def trace_pattern(node: str) -> re.Pattern:
    scheduler = f"{node[:3]}SCH"
    return re.compile(
        rf"[0-9a-f]{{32}}\|{node}\|7\.7\.0\.0\|{scheduler}\d{{9}}, i-0[0-9a-f]{{16}}\.emulator-1a"
    )


STREET_HEADER = (
    "Id|GeocodeRequest/Query|GeocodeRequest/Address/AddressLine|GeocodeRequest/Address/Locality|"
    "GeocodeRequest/Address/AdminDistrict|GeocodeResponse/EntityType|GeocodeResponse/Point/Latitude|"
    "GeocodeResponse/Point/Longitude|GeocodeResponse/GeocodePoints|StatusCode|FaultReason|TraceId"
)


def answered(entity_type: str, **request) -> GeocodeEntity:
    entity = GeocodeEntity(id="1", geocode_request=GeocodeRequest(**request))
    point = GeocodePoint("47.64", "-122.13", "Interpolation", "Point", "Display")
    entity.responses = [GeocodeResponse(entity_type=entity_type, geocode_points=[point])]
    return entity


def points(entity: GeocodeEntity) -> list[tuple[str, str | None]]:
    return [(p.usage_types, p.calculation_method) for p in entity.responses[0].geocode_points]


def test_entity_trace_ids_have_the_services_four_parts_and_are_reproducible():
    first = entity_trace_id("NODE01", "0:1:entity")
    assert trace_pattern("NODE01").fullmatch(first), first
    assert first.count("|") == 3 and ", " in first.split("|")[3]
    assert entity_trace_id("NODE01", "0:1:entity") == first
    assert entity_trace_id("NODE01", "0:2:entity") != first


def test_an_address_match_gets_a_route_point_after_its_display_point():
    entity = answered("Address", query="1 Microsoft Way, Redmond, WA")
    add_route_points(entity, street_requests=False)
    assert points(entity) == [("Display", "Interpolation"), ("Route", "Interpolation")]
    display, route = entity.responses[0].geocode_points
    assert route.longitude == display.longitude
    assert 0 < float(route.latitude) - float(display.latitude) < 0.0001
    add_route_points(entity, street_requests=False)
    assert len(entity.responses[0].geocode_points) == 2  # once only


def test_coarser_matches_keep_one_point_unless_the_quirk_asks_for_street_shapes():
    for request in (
        {"address": Address(address_line="1 Microsoft Way", locality="Redmond")},
        {"query": "16630 Redmond Way, Redmond, WA"},
    ):
        plain = answered("Postcode1", **request)
        add_route_points(plain, street_requests=False)
        assert points(plain) == [("Display", "Interpolation")]
        quirky = answered("Postcode1", **request)
        add_route_points(quirky, street_requests=True)
        assert points(quirky) == [("Display", "Interpolation"), ("Route", "Interpolation")]
    for request in ({"query": "Denver, CO"}, {"address": Address(locality="Lyon")}):
        town = answered("PopulatedPlace", **request)
        add_route_points(town, street_requests=True)
        assert points(town) == [("Display", "Interpolation")]


def test_emulator_results_quote_the_trace_id_and_carry_route_points(make_api):
    """A pipe file through the emulator with the route-points quirk: the TraceId cell holds the
    delimiter and must come back quoted; a street request's GeocodePoints has two points."""
    feed = (
        "Bing Spatial Data Services, 2.0\n"
        f"{STREET_HEADER}\n"
        "1||1 Microsoft Way|Redmond|WA\n"
        "2|Denver, CO\n"
    ).encode()
    api = make_api(quirks={"route-points"})
    job = api.status(api.created_job(data=feed, fmt="pipe"))
    text = api.get(job["links"][1]["url"]).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.split("\n", 1)[1]), delimiter="|"))
    assert [row["Id"] for row in rows] == ["1", "2"]
    for row in rows:
        assert trace_pattern("EMULATOR01").fullmatch(row["TraceId"]), row["TraceId"]
        assert f'"{row["TraceId"]}"' in text  # quoted: it contains the pipe delimiter
    street, town = (json.loads(row["GeocodeResponse/GeocodePoints"]) for row in rows)
    assert [p["UsageTypes"] for p in street] == ["Display", "Route"]
    assert [p["UsageTypes"] for p in town] == ["Display"]
    assert rows[0]["GeocodeResponse/Point/Latitude"] == street[0]["Latitude"]
