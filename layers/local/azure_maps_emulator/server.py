"""``AzureMapsEmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread."""

from __future__ import annotations

from emulator_support.server import JsonEmulatorServer

from .app import AzureMapsEmulatorApp
from .config import AzureMapsEmulatorConfig
from .state import AzureMapsEmulatorState


class AzureMapsEmulatorServer(JsonEmulatorServer[AzureMapsEmulatorConfig, AzureMapsEmulatorApp]):
    """Context manager: ``with AzureMapsEmulatorServer(config) as emulator: emulator.url ...``.

    ``url`` (``http://127.0.0.1:PORT``) is the client's ``endpoint``, with no path: the
    operations are ``/geocode:batch`` and ``/reverseGeocode:batch`` at the root, as on
    atlas.microsoft.com. ``port=0`` picks a free ephemeral port. ``threads`` is waitress's
    worker pool: each in-flight request holds one, so keep it above the number of concurrent
    clients you test. ``preload`` loads the place data in ``start()`` (a few seconds, once per
    process), so the first request is as fast as the others.
    """

    CONFIG_TYPE = AzureMapsEmulatorConfig
    APP_TYPE = AzureMapsEmulatorApp
    IDENT = "azure-maps-emulator"

    @property
    def state(self) -> AzureMapsEmulatorState:
        return self.app.state
