"""A local emulator of Azure Maps Geocoding Batch and Reverse Geocoding Batch
(``POST /geocode:batch``, ``POST /reverseGeocode:batch``) over the shared offline geocoder,
reachable by the unmodified ``azure-maps-search`` client.

Local and test use only: it is never deployed to Lambda. Start one with
``with AzureMapsEmulatorServer(AzureMapsEmulatorConfig(keys={"k"})) as emulator: ...`` or the
CLI ``python -m azure_maps_emulator``; see README.md next to this file.
"""

from .app import AzureMapsEmulatorApp
from .config import DEFAULT_KEY, AzureMapsEmulatorConfig, FaultConfig
from .server import AzureMapsEmulatorServer
from .state import AzureMapsEmulatorState

__all__ = [
    "DEFAULT_KEY",
    "AzureMapsEmulatorApp",
    "AzureMapsEmulatorConfig",
    "AzureMapsEmulatorServer",
    "AzureMapsEmulatorState",
    "FaultConfig",
]
