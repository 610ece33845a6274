"""Fixtures: the Amazon Location emulator's WSGI app in-process, over one shared geocoder."""

import pytest
from location_emulator import LocationEmulatorApp, LocationEmulatorConfig
from location_unit_support import Places
from offline_geocoder import Geocoder


@pytest.fixture(scope="session")
def geocoder() -> Geocoder:
    geocoder = Geocoder()
    _ = geocoder.gazetteer  # loaded once for the whole session (a few seconds)
    return geocoder


@pytest.fixture
def make_places(geocoder):
    def make(**overrides) -> Places:
        settings = {"rate_limit": None, **overrides}
        return Places(LocationEmulatorApp(LocationEmulatorConfig(**settings), geocoder=geocoder))

    return make


@pytest.fixture
def places(make_places) -> Places:
    return make_places()
