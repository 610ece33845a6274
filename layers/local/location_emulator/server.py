"""``LocationEmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread."""

from __future__ import annotations

from emulator_support.server import JsonEmulatorServer

from .app import LocationEmulatorApp
from .config import LocationEmulatorConfig
from .state import LocationEmulatorState


class LocationEmulatorServer(JsonEmulatorServer[LocationEmulatorConfig, LocationEmulatorApp]):
    """Context manager: ``with LocationEmulatorServer(config) as emulator: emulator.url ...``.

    ``url`` (``http://127.0.0.1:PORT``) is the ``endpoint_url`` / ``AWS_ENDPOINT_URL_GEO_PLACES``.
    ``port=0`` picks a free ephemeral port. ``threads`` is waitress's worker pool: each
    in-flight request holds one, so keep it above the number of concurrent clients you test.
    ``preload`` loads the place data in ``start()`` (a few seconds, once per process), so the
    first request is as fast as the others.
    """

    CONFIG_TYPE = LocationEmulatorConfig
    APP_TYPE = LocationEmulatorApp
    IDENT = "location-emulator"

    @property
    def state(self) -> LocationEmulatorState:
        return self.app.state
