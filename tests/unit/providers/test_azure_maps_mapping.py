"""The Azure Maps adapter's mapping both ways, on responses shaped like the API reference's
examples (tests/fixtures/azure_maps), through a fake HTTP session: what is sent, what comes
back in Data Schema v2.0 terms, and how each kind of failure is reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests
from geocode_dataflow.errors import (
    AuthenticationError,
    ProviderThrottledError,
    ServiceUnavailableError,
    SplitBatchError,
)
from geocode_dataflow.providers.azure_maps import AzureMapsGeocoder
from geocode_dataflow.schema import Address, GeocodeEntity, GeocodeRequest, ReverseGeocodeRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "azure_maps"
KEY = "azure-secret-key-value"


def FakeResponse(status: int, body) -> requests.Response:  # noqa: N802 - reads as the class it fakes
    """A real ``requests.Response`` over an in-memory body, as a streamed answer arrives."""
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response.raw = io.BytesIO(json.dumps(body).encode())
    return response


class FakeSession(requests.Session):
    """A session that answers from a list instead of the network."""

    def __init__(self, *responses: requests.Response) -> None:
        super().__init__()
        self.responses = list(responses)
        self.sent: list[dict] = []

    def post(self, url, params, json, headers, timeout, stream=False, allow_redirects=True):  # noqa: A002
        self.sent.append(
            {
                "url": url,
                "params": params,
                "json": json,
                "headers": headers,
                "redirects": allow_redirects,
            }
        )
        return self.responses.pop(0)


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def geocoder(*responses: requests.Response) -> tuple[AzureMapsGeocoder, FakeSession]:
    session = FakeSession(*responses)
    return AzureMapsGeocoder(KEY, endpoint="http://127.0.0.1:9", session=session), session


def test_forward_request_and_response_map_to_data_schema():
    azure, session = geocoder(FakeResponse(200, fixture("forward_response.json")))
    structured = GeocodeEntity(
        id="4C3681A6C8AA4AC3441412763A2A25C81444DC8B",
        geocode_request=GeocodeRequest(
            culture="en-US",
            max_results=2,
            address=Address(
                address_line="15127 NE 24th Street",
                locality="Redmond",
                admin_district="WA",
                postal_code="98052",
                country_region="United States",
            ),
        ),
    )
    free = GeocodeEntity(
        id="q",
        geocode_request=GeocodeRequest(query="Nowhere at all", address=Address(locality="X")),
    )
    azure.geocode_batch([structured, free], text_format=False)

    sent = session.sent[0]
    assert sent["url"].endswith("/geocode:batch") and sent["params"] == {
        "api-version": "2026-01-01"
    }
    assert (
        sent["headers"]["subscription-key"] == KEY and sent["headers"]["Accept-Language"] == "en-US"
    )
    first, second = sent["json"]["batchItems"]
    assert first == {
        "optionalId": structured.id,
        "top": 2,
        "addressLine": "15127 NE 24th Street",
        "locality": "Redmond",
        "adminDistrict": "WA",
        "postalCode": "98052",
        "countryRegion": "US",
    }
    assert second == {"optionalId": "q", "top": 1, "query": "Nowhere at all"}, "query alone"

    best = structured.responses[0]
    assert structured.status_code == "Success" and len(structured.responses) == 1
    assert (best.point.latitude, best.point.longitude) == ("47.630359", "-122.138669")
    assert (
        best.entity_type == "Address" and best.confidence == "High" and best.match_codes == "Good"
    )
    assert best.name == "15127 NE 24th St, Redmond, WA 98052"
    assert best.address.admin_district == "WA" and best.address.admin_district2 == "King County"
    assert best.address.country_region == "United States"
    box = best.bounding_box
    assert float(box.south_latitude) < 47.630359 < float(box.north_latitude)
    assert float(box.west_longitude) < -122.138669 < float(box.east_longitude)
    assert [(p.calculation_method, p.usage_types) for p in best.geocode_points] == [
        ("Rooftop", "Display, Route"),
        ("ParcelCentroid", "Route"),
    ]
    assert (free.status_code, free.responses) == ("Success", []), "no match"


def test_reverse_swaps_coordinates_joins_codes_and_fails_item_errors():
    azure, session = geocoder(FakeResponse(200, fixture("reverse_response.json")))
    good = GeocodeEntity(
        id="rev-1",
        reverse_geocode_request=ReverseGeocodeRequest(
            latitude="47.630358",
            longitude="-122.138681",
            include_entity_types="Address,Postcode",
            include_neighborhood=True,
        ),
    )
    bad = GeocodeEntity(
        id="rev-2",
        reverse_geocode_request=ReverseGeocodeRequest(latitude="47.6", longitude="-122.1"),
    )
    azure.geocode_batch([good, bad], text_format=True)

    first = session.sent[0]["json"]["batchItems"][0]
    assert first == {
        "optionalId": "rev-1",
        "coordinates": [-122.138681, 47.630358],
        "resultTypes": ["Address"],
    }
    response = good.responses[0]
    assert response.match_codes == "Ambiguous, Good", "Bing's order"
    assert (
        response.address.admin_district2 == "King Co."
        and response.address.neighborhood == "Overlake"
    )
    assert response.address.country_region == "United States"
    assert bad.status_code == "BadRequest" and bad.fault_reason.startswith(
        "Bad Request: The provided"
    )


def test_minimum_confidence_and_strict_match_filter_the_answers():
    azure, _ = geocoder(FakeResponse(200, fixture("forward_response.json")))
    picky = GeocodeEntity(
        id="p",
        geocode_request=GeocodeRequest(
            address=Address(locality="Redmond", admin_district="OR"), strict_match=True
        ),
    )
    other = GeocodeEntity(id="o", geocode_request=GeocodeRequest(query="x"))
    azure.geocode_batch([picky, other], text_format=False)
    assert picky.status_code == "Success" and picky.responses == [], "WA is not OR"

    azure, _ = geocoder(FakeResponse(200, fixture("reverse_response.json")))
    by_name = GeocodeEntity(
        id="n",
        geocode_request=GeocodeRequest(
            address=Address(locality="Redmond", admin_district="Washington", country_region="US"),
            strict_match=True,
        ),
    )
    abroad = GeocodeEntity(
        id="a",
        geocode_request=GeocodeRequest(
            address=Address(locality="Redmond", country_region="FR"), strict_match=True
        ),
    )
    azure.geocode_batch([by_name, abroad], text_format=False)
    assert len(by_name.responses) == 1, "the state's name matches as well as its short name"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (408, SplitBatchError),
        (429, ProviderThrottledError),
        (503, ServiceUnavailableError),
        (401, AuthenticationError),
    ],
)
def test_whole_request_failures_by_kind_and_never_with_the_key(status, error):
    body = {"error": {"code": "Oops", "message": f"the key {KEY} is wrong"}}
    azure, _ = geocoder(FakeResponse(status, body))
    entity = GeocodeEntity(id="1", geocode_request=GeocodeRequest(query="Boise"))
    with pytest.raises(error) as caught:
        azure.geocode_batch([entity], text_format=False)
    assert KEY not in str(caught.value) and KEY not in repr(azure)


def test_a_batch_answer_of_the_wrong_length_is_refused():
    azure, _ = geocoder(
        FakeResponse(200, {"batchItems": [{"type": "FeatureCollection", "features": []}]})
    )
    entities = [
        GeocodeEntity(id=str(i), geocode_request=GeocodeRequest(query="Boise")) for i in range(2)
    ]
    with pytest.raises(ServiceUnavailableError, match="1 batch items for 2"):
        azure.geocode_batch(entities, text_format=False)


def test_batch_key_groups_by_kind_and_culture():
    azure, _ = geocoder()
    forward = GeocodeEntity(id="f", geocode_request=GeocodeRequest(query="a", culture="fr-FR"))
    default = GeocodeEntity(id="d", geocode_request=GeocodeRequest(query="a"))
    reverse = GeocodeEntity(
        id="r", reverse_geocode_request=ReverseGeocodeRequest(latitude="1", longitude="1")
    )
    assert azure.batch_key(forward) == ("forward", "fr-fr")
    assert azure.batch_key(default) == ("forward", "en-us")
    assert azure.batch_key(reverse) == ("reverse", "en-us")


def test_a_shared_session_keeps_its_guarded_adapter_and_pool():
    from geocode_dataflow.client.transport import GuardedAdapter

    session = requests.Session()
    AzureMapsGeocoder(KEY, endpoint="http://127.0.0.1:9", session=session)
    adapter = session.get_adapter("https://atlas.microsoft.com")
    AzureMapsGeocoder(KEY, endpoint="http://127.0.0.1:9", session=session)

    assert isinstance(adapter, GuardedAdapter)
    assert session.get_adapter("https://atlas.microsoft.com") is adapter
