"""Fixtures: the emulator's WSGI app in-process (werkzeug's test client: no sockets)."""

import pytest
from dataflow_emulator import EmulatorApp, EmulatorConfig
from emulator_unit_support import KEY, OTHER_KEY, Api


@pytest.fixture
def make_api():
    apps = []

    def make(**overrides) -> Api:
        settings = {"keys": {KEY, OTHER_KEY}, "processing_seconds": 0.0, **overrides}
        app = EmulatorApp(EmulatorConfig(**settings))
        apps.append(app)
        return Api(app)

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
