"""An unmodified third-party Dataflow client completes jobs against the emulator in proxy mode.

The client is the ``geocoder`` package (DenisCarriere/geocoder, PyPI), whose Bing batch
provider hard-codes ``http://spatial.virtualearth.net/REST/v1/Dataflows/Geocode``. It is used
exactly as its documentation says, with its own ``proxies`` option pointed at the emulator.
"""

import pytest
from offline_geocoder.gazetteer import distance_km

geocoder = pytest.importorskip("geocoder", reason="the dev extra installs the geocoder package")

pytestmark = pytest.mark.integration

KEY = "ThirdPartyKey"


def test_third_party_client_forward_batch_through_the_proxy(start_emulator):
    emulator = start_emulator(keys={KEY})
    addresses = ["1 Microsoft Way, Redmond, WA 98052", "Denver, CO", "Paris, France"]
    results = geocoder.bing(addresses, method="batch", key=KEY, proxies={"http": emulator.url})
    assert results.ok, getattr(results, "error", None)
    assert len(results) == 3
    expected = [(47.6401, -122.1297), (39.7392, -104.9903), (48.8566, 2.3522)]
    for result, (lat, lon) in zip(results, expected, strict=True):
        assert distance_km(result.lat, result.lng, lat, lon) < 15
    state = emulator.state.to_dict()
    assert state["calls"]["create"] == 1 and state["calls"]["download"] == 1


def test_third_party_client_reverse_batch_through_the_proxy(start_emulator):
    emulator = start_emulator(keys={KEY})
    results = geocoder.bing(
        [[47.64054, -122.12934], [48.8566, 2.3522]],
        method="batch_reverse",
        key=KEY,
        proxies={"http": emulator.url},
    )
    assert results.ok, getattr(results, "error", None)
    assert [r.city for r in results] == ["Redmond", "Paris"]
    assert results[0].state == "WA" and results[1].country == "France"
