"""Item errors: one bad item gets ``{"error"}`` in its place; the request still answers 200."""

import pytest
from azure_maps_emulator.validation import (
    ForwardItem,
    ItemError,
    bad_request_code,
    forward_item,
    reverse_item,
)

CONFLICT = (
    "When 'query' is present, only the following parameters are valid: "
    "'bbox, location, view, top'. '{}' was passed"
)


def item_error(answer):
    assert set(answer) - {"optionalId"} == {"error"}, answer
    return answer["error"]["code"], answer["error"]["message"]


@pytest.mark.parametrize(
    "field", ["addressLine", "countryRegion", "adminDistrict", "locality", "postalCode"]
)
def test_validation_query_with_a_structured_field_conflicts(maps, field):
    answer = maps.geocode_one({"query": "Pike Pl", field: "x", "top": 3})
    assert item_error(answer) == ("Conflicting Parameters", CONFLICT.format(field))


def test_validation_conflict_names_the_first_field_sent(maps):
    answer = maps.geocode_one({"postalCode": "98101", "query": "Pike Pl", "locality": "Seattle"})
    assert item_error(answer)[1].endswith("'postalCode' was passed")


def test_validation_query_may_come_with_bbox_coordinates_view_top(maps):
    answer = maps.geocode_one(
        {
            "query": "Denver",
            "bbox": [-106, 39, -104, 40],
            "coordinates": [-105, 39.7],
            "view": "auto",
            "top": 1,
            "optionalId": "x",
        }
    )
    assert answer["features"]


def test_validation_the_other_items_are_still_answered(maps):
    body = maps.geocode(
        [{"query": "Denver, CO"}, {"query": "x", "locality": "y"}, {"locality": "Boise"}]
    ).json
    assert body["summary"] == {"successfulRequests": 2, "totalRequests": 3}
    assert [("error" in item) for item in body["batchItems"]] == [False, True, False]


@pytest.mark.parametrize("top", [0, 21, -1, 2.5, "5", True])
def test_validation_top_outside_1_to_20_is_an_item_error(maps, top):
    code, message = item_error(maps.geocode_one({"query": "Denver", "top": top}))
    assert code == "Bad Request" and "'top'" in message


@pytest.mark.parametrize(
    ("version", "code", "message"),
    [
        (
            "2026-01-01",
            "Bad Request",
            "The provided coordinates (-122.138681,47.630358) in coordinates field are invalid "
            "or out of range",
        ),
        (
            "2025-01-01",
            "400 Bad Request",
            "The provided coordinates (-122.138681,47.630358) in coordinates field are invalid "
            "or out of range",
        ),
        (
            "2023-06-01",
            "400 Bad Request",
            "The provided coordinates in query are invalid, out of range, or not in the "
            "expected format",
        ),
    ],
)
def test_validation_reverse_coordinates_out_of_range_per_version(maps, version, code, message):
    # [lat, lon] by mistake: latitude -122 is out of range; the message swaps the pair (AZ-Q10).
    answer = maps.reverse_one(
        {"coordinates": [47.630358, -122.138681], "optionalId": "6M9W"}, api_version=version
    )
    assert item_error(answer) == (code, message)
    assert answer["optionalId"] == "6M9W"


@pytest.mark.parametrize(
    "coordinates", [[181, 0], [0, -90.5], [1], [1, 2, 3], ["1", "2"], [True, 1], "1,2"]
)
def test_validation_bad_coordinates_forward_and_reverse(maps, coordinates):
    forward = maps.geocode_one({"query": "Denver", "coordinates": coordinates})
    reverse = maps.reverse_one({"coordinates": coordinates})
    for answer in (forward, reverse):
        code, message = item_error(answer)
        assert code == "Bad Request" and message.startswith("The provided coordinates")


def test_validation_coordinates_at_the_limits_are_valid(maps):
    for coordinates in ([180, 90], [-180, -90], [0, 0]):
        assert "error" not in maps.reverse_one({"coordinates": coordinates})


def test_validation_reverse_needs_coordinates(maps):
    code, message = item_error(maps.reverse_one({"optionalId": "a"}))
    assert code == "Bad Request" and "'coordinates' is required" in message


@pytest.mark.parametrize("types", [["City"], "Address", [1], ["Address", None]])
def test_validation_reverse_result_types(maps, types):
    code, message = item_error(maps.reverse_one({"coordinates": [0, 0], "resultTypes": types}))
    assert "'resultTypes'" in message and "PopulatedPlace" in message


def test_validation_reverse_has_no_top(maps):
    # The migration guide maps MaxResults to top for reverse too; the item has no top (AZ-Q19).
    code, message = item_error(maps.reverse_one({"coordinates": [0, 0], "top": 1}))
    assert message == "'top' is not a valid parameter of this batch item."


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"query": "Denver", "maxResults": 1}, "'maxResults' is not a valid parameter"),
        ({"query": 42}, "'query' must be a string"),
        ({"postalCode": 98052}, "'postalCode' must be a string"),
        ({}, "Either 'query' or at least one of"),
        ({"query": "   "}, "Either 'query' or at least one of"),
        ({"locality": "", "postalCode": " "}, "Either 'query' or at least one of"),
        ({"query": "Denver", "bbox": [1, 2, 3]}, "'bbox' must be 4 numbers"),
        ({"query": "Denver", "bbox": [-200, 0, 0, 1]}, "'bbox' is out of range"),
        ({"query": "Denver", "view": "Unified-ish"}, "'view' must be"),
    ],
)
def test_validation_forward_item_errors(maps, item, words):
    code, message = item_error(maps.geocode_one(item))
    assert code == "Bad Request" and words in message


def test_validation_an_item_that_is_not_an_object(maps):
    body = maps.geocode(["Denver", None, [1]]).json
    assert body["summary"] == {"successfulRequests": 0, "totalRequests": 3}
    for answer in body["batchItems"]:
        assert item_error(answer)[1] == "A batch item must be a JSON object."


def test_validation_messages_never_echo_addresses():
    secret = "221B Baker Street"
    with pytest.raises(ItemError) as caught:
        forward_item({"query": secret, "addressLine": secret}, "2026-01-01")
    assert secret not in str(caught.value)


def test_validation_parses_into_typed_items():
    item = forward_item(
        {"locality": " Boise ", "adminDistrict": "ID", "postalCode": "", "top": 3}, "2026-01-01"
    )
    assert item == ForwardItem(fields={"locality": "Boise", "adminDistrict": "ID"}, top=3)
    reverse = reverse_item(
        {"coordinates": [-116, 43], "resultTypes": ["postcode1", "Postcode1"]}, "2023-06-01"
    )
    assert (reverse.coordinates, reverse.result_types) == ((-116.0, 43.0), ("Postcode1",))


def test_validation_item_error_code_per_version():
    assert bad_request_code("2026-01-01") == "Bad Request"
    assert bad_request_code("2025-01-01") == bad_request_code("2023-06-01") == "400 Bad Request"
