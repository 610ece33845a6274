"""The Amazon Location adapter with boto3's geo-places client against the emulator over HTTP:
the Data Schema v2.0 mapping both ways, options honoured by filtering, errors by kind."""

from __future__ import annotations

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from geocode_dataflow.errors import AuthenticationError, ServiceUnavailableError
from geocode_dataflow.providers.amazon_location import (
    AmazonLocationGeocoder,
    ProviderThrottledError,
)
from geocode_dataflow.schema import Address, GeocodeEntity, GeocodeRequest, ReverseGeocodeRequest
from location_emulator import FaultConfig, LocationEmulatorConfig, LocationEmulatorServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator():
    with LocationEmulatorServer(LocationEmulatorConfig(rate_limit=0)) as server:
        yield server


def geocoder(emulator, **config) -> AmazonLocationGeocoder:
    client = boto3.client(
        "geo-places",
        region_name="us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )
    return AmazonLocationGeocoder(client)


def forward(**request) -> GeocodeEntity:
    return GeocodeEntity(id="1", geocode_request=GeocodeRequest(**request))


def test_structured_address_gives_a_point_with_lat_lon_in_bing_order(emulator):
    entity = geocoder(emulator).geocode(
        forward(address=Address(locality="Boise", admin_district="ID", country_region="US")),
        text_format=False,
    )
    assert entity.status_code == "Success"
    best = entity.responses[0]
    assert (
        abs(float(best.point.latitude) - 43.6) < 0.3
        and abs(float(best.point.longitude) + 116.2) < 0.3
    )
    assert best.entity_type == "PopulatedPlace" and best.confidence in ("High", "Medium")
    assert best.address.locality == "Boise" and best.address.admin_district == "ID"
    box = best.bounding_box
    assert float(box.south_latitude) < float(best.point.latitude) < float(box.north_latitude)
    assert float(box.west_longitude) < float(best.point.longitude) < float(box.east_longitude)
    assert best.geocode_points[0].usage_types.startswith("Display")


def test_reverse_swaps_the_coordinates_and_filters_entity_types(emulator):
    entity = GeocodeEntity(
        id="r",
        reverse_geocode_request=ReverseGeocodeRequest(
            latitude="47.64054", longitude="-122.12934", include_entity_types="PopulatedPlace"
        ),
    )
    geocoder(emulator).geocode(entity, text_format=False)
    assert entity.status_code == "Success" and entity.responses
    assert {r.entity_type for r in entity.responses} == {"PopulatedPlace"}
    assert entity.responses[0].address.admin_district == "WA"


def test_minimum_confidence_and_max_results_are_honoured(emulator):
    loose = geocoder(emulator).geocode(
        forward(query="Springfield", max_results=5), text_format=False
    )
    assert 1 < len(loose.responses) <= 5
    strict = geocoder(emulator).geocode(
        forward(query="Springfield", max_results=5, min_confidence="High"), text_format=False
    )
    assert all(r.confidence == "High" for r in strict.responses)
    assert len(strict.responses) < len(loose.responses)


def test_strict_match_keeps_only_the_requested_region(emulator):
    entity = geocoder(emulator).geocode(
        forward(
            query="Springfield",
            max_results=10,
            strict_match=True,
            address=Address(admin_district="IL", country_region="US"),
        ),
        text_format=False,
    )
    assert entity.responses and {r.address.admin_district for r in entity.responses} == {"IL"}


def test_no_match_is_success_with_no_response(emulator):
    entity = geocoder(emulator).geocode(forward(query="Qwxzv Nowhere Plkj"), text_format=False)
    assert (entity.status_code, entity.responses, entity.fault_reason) == ("Success", [], None)


def test_what_amazon_location_refuses_fails_the_entity_with_its_words(emulator):
    too_long = geocoder(emulator).geocode(forward(query="x" * 250), text_format=False)
    assert too_long.status_code == "BadRequest" and "at most 200" in too_long.fault_reason
    bad = GeocodeEntity(
        id="b", reverse_geocode_request=ReverseGeocodeRequest(latitude="91", longitude="0")
    )
    geocoder(emulator).geocode(bad, text_format=False)
    assert bad.status_code == "BadRequest" and "out of range" in bad.fault_reason
    # A culture the service refuses comes back as a ValidationException with its field.
    odd = geocoder(emulator).geocode(forward(query="Boise, ID", culture="x"), text_format=False)
    assert odd.status_code == "BadRequest" and "Language" in odd.fault_reason


def test_throttling_and_server_errors_are_transient(emulator):
    emulator.set_faults(FaultConfig(throttle_rate=1.0))
    try:
        with pytest.raises(ProviderThrottledError):
            geocoder(emulator).geocode(forward(query="Boise, ID"), text_format=False)
    finally:
        emulator.set_faults(FaultConfig())
    emulator.set_faults(FaultConfig(error_rate=1.0))
    try:
        with pytest.raises(ServiceUnavailableError):
            geocoder(emulator).geocode(forward(query="Boise, ID"), text_format=False)
    finally:
        emulator.set_faults(FaultConfig())


def test_a_refused_signature_is_an_authentication_error(emulator):
    with pytest.raises(AuthenticationError, match="IAM permissions"):
        geocoder(emulator, signature_version=UNSIGNED).geocode(
            forward(query="Boise, ID"), text_format=False
        )


def test_requests_say_they_will_be_stored(emulator):
    client = geocoder(emulator)._client
    seen = []
    client.meta.events.register(
        "before-send.geo-places.*", lambda request, **_: seen.append(request.body)
    )
    geocoder_with_hook = AmazonLocationGeocoder(client)
    geocoder_with_hook.geocode(forward(query="Boise, ID"), text_format=False)
    assert b'"IntendedUse": "Storage"' in seen[0]
