"""Shortcuts for driving the emulator's WSGI app in-process (werkzeug's test client)."""

from xml.etree import ElementTree

from dataflow_emulator import EmulatorApp
from werkzeug.test import Client

KEY = "TestKey-1"
OTHER_KEY = "TestKey-2"
REST = "{http://schemas.microsoft.com/search/local/ws/rest/v1}"
GEOCODE_PATH = "/REST/v1/Dataflows/Geocode"
CSV_FEED = (
    b"Bing Spatial Data Services, 2.0\n"
    b"Id,GeocodeRequest/Query,GeocodeResponse/Point/Latitude,GeocodeResponse/Point/Longitude,"
    b"StatusCode,FaultReason\n"
    b'1,"1 Microsoft Way, Redmond, WA 98052"\n'
    b'2,"Paris, France"\n'
    b"3,\n"
)


class Api:
    """A werkzeug test client plus the shortcuts every test needs."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.client = Client(app)

    def create(
        self,
        data: bytes = CSV_FEED,
        *,
        key: str | None = KEY,
        fmt: str = "csv",
        headers: dict | None = None,
        **params,
    ):
        query = {"input": fmt, **params}
        if key is not None:
            query["key"] = key
        return self.client.post(GEOCODE_PATH, query_string=query, data=data, headers=headers)

    def get(self, path_or_url: str, *, key: str | None = KEY, **params):
        path = path_or_url.split("://", 1)[-1]
        path = path[path.index("/") :] if "://" in path_or_url else path
        query = dict(params)
        if key is not None:
            query["key"] = key
        return self.client.get(path, query_string=query)

    def job(self, response) -> dict:
        return response.get_json()["resourceSets"][0]["resources"][0]

    def created_job(self, **kwargs) -> dict:
        response = self.create(**kwargs)
        assert response.status_code == 201, response.get_data(as_text=True)
        return self.job(response)

    def status(self, job: dict, **params) -> dict:
        response = self.get(job["links"][0]["url"], **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return self.job(response)

    def advance(self, seconds: float) -> None:
        self.app.state.clock.advance(seconds)


def xml_root(response) -> ElementTree.Element:
    return ElementTree.fromstring(response.get_data())
