"""Fixtures: the Azure Maps emulator's WSGI app in-process, over one shared geocoder."""

import pytest
from azure_maps_emulator import AzureMapsEmulatorApp, AzureMapsEmulatorConfig
from azure_unit_support import KEY, Maps
from offline_geocoder import Geocoder


@pytest.fixture(scope="session")
def geocoder() -> Geocoder:
    geocoder = Geocoder()
    _ = geocoder.gazetteer  # loaded once for the whole session (a few seconds)
    return geocoder


@pytest.fixture
def make_maps(geocoder):
    def make(**overrides) -> Maps:
        settings = {"keys": {KEY}, "rate_limit": None, **overrides}
        return Maps(AzureMapsEmulatorApp(AzureMapsEmulatorConfig(**settings), geocoder=geocoder))

    return make


@pytest.fixture
def maps(make_maps) -> Maps:
    return make_maps()
