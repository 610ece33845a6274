"""Fixtures: Amazon Location emulators on real loopback HTTP (waitress in a background thread)."""

import pytest
from location_emulator import LocationEmulatorConfig, LocationEmulatorServer
from offline_geocoder import get_gazetteer


@pytest.fixture(scope="session")
def warm_gazetteer():
    """Place data loaded once per session (a few seconds); every emulator then starts at once."""
    return get_gazetteer()


@pytest.fixture
def start_location_emulator(warm_gazetteer):
    servers = []

    def start(**overrides) -> LocationEmulatorServer:
        server = LocationEmulatorServer(LocationEmulatorConfig(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def location_emulator(start_location_emulator) -> LocationEmulatorServer:
    return start_location_emulator()
