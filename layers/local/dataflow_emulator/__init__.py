"""A faithful local emulator of the Bing Maps Geocode Dataflow API, with an offline geocoder.

Local and test use only: it is never deployed to Lambda. Start one with
``with EmulatorServer(EmulatorConfig(keys={"k"})) as emulator: ...`` or the CLI
``geocode-dataflow emulator``; see README.md next to this file.
"""

from offline_geocoder import Geocoder

from .app import EmulatorApp
from .config import ENDPOINTS, QUIRKS, EmulatorConfig, FaultConfig
from .data_location import AllowedHost
from .datasources import DataSource, sample_data_source
from .server import EmulatorServer
from .state import EmulatorState

__all__ = [
    "ENDPOINTS",
    "QUIRKS",
    "AllowedHost",
    "DataSource",
    "EmulatorApp",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "FaultConfig",
    "Geocoder",
    "sample_data_source",
]
