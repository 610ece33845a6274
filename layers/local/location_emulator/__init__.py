"""A local emulator of Amazon Location Service Places API v2 (``geo-places``): Geocode and
ReverseGeocode over the shared offline geocoder, reachable by an unmodified boto3 client.

Local and test use only: it is never deployed to Lambda. Start one with
``with LocationEmulatorServer(LocationEmulatorConfig()) as emulator: ...`` or the CLI
``python -m location_emulator``; see README.md next to this file.
"""

from emulator_support.limits import SlidingWindowLimiter, max_in_window

from .app import LocationEmulatorApp
from .config import FaultConfig, LocationEmulatorConfig
from .server import LocationEmulatorServer
from .state import LocationEmulatorState

__all__ = [
    "FaultConfig",
    "LocationEmulatorApp",
    "LocationEmulatorConfig",
    "LocationEmulatorServer",
    "LocationEmulatorState",
    "SlidingWindowLimiter",
    "max_in_window",
]
