"""Fixtures: Azure Maps emulators on real loopback HTTP (waitress in a background thread)."""

import pytest
from azure_http_support import KEY
from azure_maps_emulator import AzureMapsEmulatorConfig, AzureMapsEmulatorServer
from offline_geocoder import get_gazetteer


@pytest.fixture(scope="session")
def warm_gazetteer():
    """Place data loaded once per session (a few seconds); every emulator then starts at once."""
    return get_gazetteer()


@pytest.fixture
def start_azure_emulator(warm_gazetteer):
    servers = []

    def start(**overrides) -> AzureMapsEmulatorServer:
        settings = {"keys": {KEY}, **overrides}
        server = AzureMapsEmulatorServer(AzureMapsEmulatorConfig(**settings)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def azure_emulator(start_azure_emulator) -> AzureMapsEmulatorServer:
    return start_azure_emulator()
