"""Fixtures: emulators on real loopback HTTP (waitress in a background thread)."""

import pytest
from dataflow_emulator import EmulatorConfig, EmulatorServer
from emulator_http_support import KEY


@pytest.fixture
def start_emulator():
    servers = []

    def start(**overrides) -> EmulatorServer:
        settings = {"keys": {KEY}, "processing_seconds": 0.0, **overrides}
        server = EmulatorServer(EmulatorConfig(**settings)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def emulator(start_emulator) -> EmulatorServer:
    return start_emulator()
