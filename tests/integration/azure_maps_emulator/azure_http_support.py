"""Shortcuts for reaching the Azure Maps emulator over loopback HTTP with the unmodified
``azure-maps-search`` client."""

from azure.core.credentials import AzureKeyCredential
from azure.maps.search import MapsSearchClient

KEY = "integration-test-key"


def maps_client(server, key=KEY, *, retries=False, **options):
    """``MapsSearchClient`` pointed at the emulator. It sends ``api-version=2023-06-01`` unless
    ``api_version=`` says otherwise; azure-core retries are off unless ``retries``, so a test
    sees each answer once."""
    if not retries:
        options.setdefault("retry_total", 0)
    return MapsSearchClient(credential=AzureKeyCredential(key), endpoint=server.url, **options)
