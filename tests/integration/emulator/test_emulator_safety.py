"""The emulator cannot be turned against its host: dataLocation fetches only from listed hosts,
never follows a redirect nor quotes what it fetched; control endpoints want the control token,
a JSON body and no foreign Origin. Everything over real loopback HTTP."""

import http.server
import socket
import threading

import pytest
import requests
from dataflow_emulator import FaultConfig
from emulator_http_support import KEY

pytestmark = pytest.mark.integration

SECRET = "TOP-SECRET-TOKEN=c2VjcmV0"


class _Site:
    """A loopback web server answering every GET with one canned answer; counts the GETs."""

    def __init__(self, status: int = 200, body: bytes = b"", headers: dict | None = None):
        self.requests = 0
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook's name
                site.requests += 1
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def site():
    sites = []

    def start(*args, **kwargs) -> _Site:
        sites.append(_Site(*args, **kwargs))
        return sites[-1]

    yield start
    for each in sites:
        each.close()


@pytest.fixture
def banner_server():
    """A TCP service that is not HTTP: it greets with a banner line and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(f"SSH-2.0-{SECRET}\r\n".encode())

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _create(emulator, location: str, fmt: str = "csv") -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/Geocode",
        params={"input": fmt, "key": KEY, "dataLocation": location},
        timeout=30,
    )


def _details(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    return " ".join(response.json()["errorDetails"])


# -- dataLocation ----------------------------------------------------------------------------------


def test_data_location_is_off_by_default(emulator, site):
    secret = site(body=SECRET.encode())
    details = _details(_create(emulator, f"{secret.url}/feed.csv"))
    assert "--allow-data-location" in details
    assert secret.requests == 0


def test_data_location_fetches_only_listed_hosts_and_ports(start_emulator, site):
    secret, other = site(body=SECRET.encode()), site()
    emulator = start_emulator(data_location_hosts=[other.host])
    assert "not one this emulator may fetch from" in _details(
        _create(emulator, f"{secret.url}/feed.csv")
    )
    assert secret.requests == 0


def test_data_location_loopback_through_a_name_is_refused(start_emulator, site):
    secret = site(body=SECRET.encode())
    # "127.1" is a name to the allow-list, and resolves to 127.0.0.1.
    emulator = start_emulator(data_location_hosts=[f"127.1:{secret.port}"])
    details = _details(_create(emulator, f"http://127.1:{secret.port}/feed.csv"))
    assert "loopback" in details and f"127.0.0.1:{secret.port}" in details
    assert secret.requests == 0


def test_data_location_never_quotes_what_it_fetched(start_emulator, site):
    secret = site(body=f"{SECRET}\nmore\n".encode(), headers={"Content-Type": "text/plain"})
    emulator = start_emulator(data_location_hosts=[secret.host])
    for fmt in ("csv", "xml", "pipe"):
        response = _create(emulator, f"{secret.url}/feed", fmt)
        details = _details(response)
        assert SECRET not in response.text and "c2VjcmV0" not in response.text
        assert "31 bytes, Content-Type text/plain" in details
    assert secret.requests == 3


def test_data_location_does_not_follow_redirects(start_emulator, site):
    secret = site(body=SECRET.encode())
    redirect = site(302, headers={"Location": f"{secret.url}/feed.csv"})
    emulator = start_emulator(data_location_hosts=[redirect.host, secret.host])
    response = _create(emulator, f"{redirect.url}/feed.csv")
    assert "HTTP 302 (redirects are not followed)" in _details(response)
    assert SECRET not in response.text
    assert (redirect.requests, secret.requests) == (1, 0)


def test_data_location_does_not_quote_a_non_http_answer(start_emulator, banner_server):
    emulator = start_emulator(data_location_hosts=[banner_server])
    response = _create(emulator, f"http://{banner_server}/feed.csv")
    assert "not valid HTTP" in _details(response)
    assert SECRET not in response.text


def test_data_location_keeps_the_size_cap(start_emulator, site):
    big = site(body=b"x" * 200_000)
    emulator = start_emulator(data_location_hosts=[big.host], max_upload_bytes=10_000)
    assert "larger than the limit" in _details(_create(emulator, f"{big.url}/feed.csv"))


# -- control endpoints -----------------------------------------------------------------------------

FAULTS = {"error_rate": {"list": 1.0}}


def _bearer(emulator) -> dict:
    return {"Authorization": f"Bearer {emulator.control_token}"}


def _faults_unchanged(emulator) -> bool:
    return emulator.app.faults.faults == FaultConfig()


def test_control_endpoints_want_the_control_token(emulator):
    wrong = {"Authorization": "Bearer " + "x" * 32}
    for headers in ({}, wrong, {"Authorization": KEY}):
        state = requests.get(f"{emulator.url}/emulator/state", headers=headers, timeout=10)
        posted = requests.post(
            f"{emulator.url}/emulator/faults", json=FAULTS, headers=headers, timeout=10
        )
        assert (state.status_code, posted.status_code) == (401, 401)
        assert posted.headers["WWW-Authenticate"].startswith("Bearer")
    assert _faults_unchanged(emulator)
    ok = requests.get(f"{emulator.url}/emulator/state", headers=_bearer(emulator), timeout=10)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_control_bodies_must_be_json(emulator, content_type):
    headers = _bearer(emulator) | ({"Content-Type": content_type} if content_type else {})
    posted = requests.post(
        f"{emulator.url}/emulator/faults",
        data=b'{"error_rate": {"list": 1.0}}',
        headers=headers,
        timeout=10,
    )
    assert posted.status_code == 415
    assert _faults_unchanged(emulator)


def test_control_requests_from_a_web_page_are_refused(emulator):
    for origin in ("https://evil.example", "null", "http://192.168.1.5:8080"):
        posted = requests.post(
            f"{emulator.url}/emulator/faults",
            json=FAULTS,
            headers=_bearer(emulator) | {"Origin": origin},
            timeout=10,
        )
        assert posted.status_code == 403, origin
    assert _faults_unchanged(emulator)
    local = requests.post(
        f"{emulator.url}/emulator/faults",
        json=FAULTS,
        headers=_bearer(emulator) | {"Origin": f"http://localhost:{emulator.port}"},
        timeout=10,
    )
    assert local.status_code == 200 and not _faults_unchanged(emulator)
