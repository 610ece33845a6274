"""The https proxy: clients that hard-code https://spatial.virtualearth.net complete jobs
unmodified with HTTPS_PROXY and the emulator's CA trusted; nothing else gets through.

Real sockets and real TLS on loopback: requests (urllib3) tunnels with CONNECT and verifies
the certificate against the CA file the emulator wrote, exactly as it would the service's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import certifi
import pytest
import requests
from dataflow_emulator import EmulatorConfig, EmulatorServer, FaultConfig
from dataflow_emulator.cli import build_parser, run_emulator
from emulator_http_support import FIXTURES, KEY, only_job, output_urls, wait_until_done

pytestmark = pytest.mark.integration

SERVICE = "https://spatial.virtualearth.net/REST/v1/Dataflows"
HOST = "spatial.virtualearth.net"


@pytest.fixture
def tls_emulator(tmp_path):
    config = EmulatorConfig(keys={KEY}, processing_seconds=0.0)
    server = EmulatorServer(config, https_proxy_port=0, ca_cert=tmp_path / "ca" / "ca.pem")
    with server:
        yield server


def through(server: EmulatorServer) -> dict:
    """What an unmodified requests client is given: a proxy, and the CA to verify against."""
    return {"proxies": {"https": server.https_proxy_url}, "verify": str(server.ca_cert)}


def connect(server: EmulatorServer, request: bytes) -> tuple[socket.socket, bytes]:
    """Send ``request`` to the proxy port; return the socket and the answer's head."""
    sock = socket.create_connection(("127.0.0.1", server.https_proxy.port), timeout=10)
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return sock, head


def read_to_close(sock: socket.socket) -> bytes:
    """The rest of what the proxy sends until it closes the connection (it must close it)."""
    data = b""
    with sock:
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_requests_completes_a_job_over_https_through_the_proxy(tls_emulator):
    assert tls_emulator.ca_cert.read_bytes() == tls_emulator.ca_cert_pem
    session = requests.Session()
    created = session.post(
        f"{SERVICE}/Geocode",
        params={"input": "csv", "key": KEY},
        data=(FIXTURES / "sample_input.csv").read_bytes(),
        timeout=30,
        **through(tls_emulator),
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(f"https://{HOST}/REST/v1/dataflows/Geocode/")
    job = wait_until_done(session, location, **through(tls_emulator))
    urls = output_urls(job)
    assert set(urls) == {"succeeded", "failed"}
    assert all(url.startswith(f"https://{HOST}/") for url in urls.values())
    succeeded = session.get(
        urls["succeeded"], params={"key": KEY}, timeout=30, **through(tls_emulator)
    )
    failed = session.get(urls["failed"], params={"key": KEY}, timeout=30, **through(tls_emulator))
    assert succeeded.text.startswith("Bing Spatial Data Services, 2.0")
    assert "BadRequest" in failed.text
    listed = session.get(
        f"{SERVICE}/ListJobs", params={"key": KEY}, timeout=30, **through(tls_emulator)
    )
    assert only_job(listed)["id"] == job["id"]
    calls = tls_emulator.state.to_dict()["calls"]
    assert calls["create"] == 1 and calls["download"] == 2 and calls["list"] == 1


def test_a_chunked_upload_is_read_whole(tls_emulator):
    data = (FIXTURES / "sample_input.csv").read_bytes()
    created = requests.post(
        f"{SERVICE}/Geocode",
        params={"input": "csv", "key": KEY},
        data=iter([data[:100], data[100:]]),  # a generator body goes out chunked
        timeout=30,
        **through(tls_emulator),
    )
    assert created.status_code == 201, created.text
    assert only_job(created)["totalEntityCount"] == data.count(b"\n") - 2


def test_a_body_over_the_servers_limit_is_refused_413_chunked_or_not(tmp_path):
    config = EmulatorConfig(keys={KEY}, processing_seconds=0.0, max_upload_bytes=1000)
    with EmulatorServer(config, https_proxy_port=0, ca_cert=tmp_path / "ca.pem") as server:
        too_big = b"x" * (2 * 1000 + (1 << 20) + 1)  # the server's own cap, as waitress's
        for body in (too_big, iter([too_big[:70000], too_big[70000:]])):
            refused = requests.post(
                f"{SERVICE}/Geocode",
                params={"input": "csv", "key": KEY},
                data=body,
                timeout=30,
                **through(server),
            )
            assert refused.status_code == 413
        assert server.state.jobs_created == 0


def test_the_project_cli_unmodified_runs_a_job_with_https_proxy_from_the_environment(
    tls_emulator, tmp_path
):
    """The project's own client, whose default endpoint is the service's https URL, told
    nothing but the environment a user would set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATAFLOW_ENDPOINT", "NO_PROXY", "no_proxy")
    }
    env |= {
        "BING_MAPS_KEY": KEY,
        "HTTPS_PROXY": tls_emulator.https_proxy_url,
        "REQUESTS_CA_BUNDLE": str(tls_emulator.ca_cert),
    }
    cli = Path(sys.executable).with_name("geocode-dataflow")
    out = tmp_path / "out"
    done = subprocess.run(
        [
            str(cli),
            "run",
            str(FIXTURES / "sample_input.csv"),
            "--out",
            str(out),
            "--poll-seconds",
            "0.2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr
    written = {p.name for p in out.iterdir()}
    assert any(name.startswith("succeeded") for name in written), written
    assert tls_emulator.state.jobs_created == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_completes_a_job_with_https_proxy_and_its_ca_bundle_from_the_environment(
    tls_emulator, tmp_path
):
    """A client that is not Python (curl, OpenSSL) with only the environment a user sets."""
    env = dict(os.environ)
    env |= {
        "HTTPS_PROXY": tls_emulator.https_proxy_url,
        "CURL_CA_BUNDLE": str(tls_emulator.ca_cert),
    }

    def curl(*args: str) -> str:
        done = subprocess.run(
            ["curl", "--silent", "--show-error", "--fail", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    upload = FIXTURES / "sample_input.csv"
    created = json.loads(
        curl("--data-binary", f"@{upload}", f"{SERVICE}/Geocode?input=csv&key={KEY}")
    )
    status_url = created["resourceSets"][0]["resources"][0]["links"][0]["url"]
    assert status_url.startswith(f"https://{HOST}/")
    deadline = time.monotonic() + 20
    while True:
        job = json.loads(curl(f"{status_url}?key={KEY}"))["resourceSets"][0]["resources"][0]
        if job["status"] != "Pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "Completed"
    result = curl(f"{output_urls(job)['succeeded']}?key={KEY}")
    assert result.startswith("Bing Spatial Data Services, 2.0")


def test_a_client_that_does_not_trust_the_ca_is_stopped(tls_emulator):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(
            f"{SERVICE}/ListJobs",
            params={"key": KEY},
            proxies={"https": tls_emulator.https_proxy_url},
            verify=certifi.where(),
            timeout=10,
        )
    assert tls_emulator.state.to_dict()["calls"] == {}


def test_the_certificate_names_the_requested_host_only(tls_emulator):
    trusting = ssl.create_default_context(cadata=tls_emulator.ca_cert_pem.decode())
    sock, head = connect(
        tls_emulator, f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode()
    )
    assert head.startswith(b"HTTP/1.1 200")
    with trusting.wrap_socket(sock, server_hostname=HOST) as tls:
        names = [value for kind, value in tls.getpeercert()["subjectAltName"] if kind == "DNS"]
        assert names == [HOST]
    sock, head = connect(tls_emulator, f"CONNECT {HOST}:443 HTTP/1.1\r\n\r\n".encode())
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        trusting.wrap_socket(sock, server_hostname="example.com")
    sock.close()


def test_other_hosts_are_refused_and_never_contacted(tls_emulator):
    bystander = socket.socket()
    bystander.bind(("127.0.0.1", 0))
    bystander.listen(1)
    bystander.settimeout(0.5)
    port = bystander.getsockname()[1]
    try:
        for target in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "example.com:443",
            f"{HOST}:80",
            f"{HOST}.evil.example:443",
        ):
            sock, head = connect(tls_emulator, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
            answer = head + read_to_close(sock)
            assert answer.startswith(b"HTTP/1.1 403"), (target, answer)
            assert b"never connects anywhere else" in answer
        with pytest.raises(TimeoutError):
            bystander.accept()  # nobody was connected to it
    finally:
        bystander.close()
    with pytest.raises(requests.exceptions.ProxyError, match="403"):
        requests.get(
            "https://example.com/", proxies={"https": tls_emulator.https_proxy_url}, timeout=10
        )
    assert tls_emulator.state.to_dict()["calls"] == {}


def test_what_is_not_a_connect_is_refused(tls_emulator):
    sock, head = connect(tls_emulator, b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n")
    answer = head + read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 400") and b"only CONNECT" in answer
    sock, head = connect(
        tls_emulator,
        f"GET http://{HOST}/REST/v1/Dataflows/ListJobs?key={KEY} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode(),
    )
    sock.close()
    assert head.startswith(b"HTTP/1.1 405") and b"Allow: CONNECT" in head
    # A client that speaks TLS to the proxy itself (an https:// proxy URL) hears plain 400.
    with pytest.raises(ssl.SSLError):
        raw = socket.create_connection(("127.0.0.1", tls_emulator.https_proxy.port), timeout=10)
        with ssl.create_default_context().wrap_socket(raw, server_hostname=HOST):
            pass
    assert tls_emulator.state.to_dict()["calls"] == {}


def test_a_reset_fault_reaches_the_https_client_as_a_connection_error(tls_emulator):
    tls_emulator.set_faults(FaultConfig(reset_rate={"list": 1.0}))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(
            f"{SERVICE}/ListJobs", params={"key": KEY}, timeout=10, **through(tls_emulator)
        )
    tls_emulator.set_faults(FaultConfig())
    ok = requests.get(
        f"{SERVICE}/ListJobs", params={"key": KEY}, timeout=10, **through(tls_emulator)
    )
    assert ok.status_code == 200


def test_the_emulator_command_writes_the_ca_and_prints_how_to_use_the_proxy(tmp_path, capsys):
    ca = tmp_path / "ca.pem"
    args = build_parser().parse_args(
        ["--port", "0", "--https-proxy-port", "0", "--ca-cert", str(ca), "--key", KEY]
    )
    stop = threading.Event()
    serving = threading.Thread(target=run_emulator, args=(args,), kwargs={"stop": stop})
    serving.start()
    printed = ""
    try:
        deadline = time.monotonic() + 30
        while "HTTPS_PROXY=" not in printed and time.monotonic() < deadline:
            time.sleep(0.1)
            printed += capsys.readouterr().out
        proxy = re.search(r"HTTPS_PROXY=(http://\S+)", printed).group(1)
        assert f"REQUESTS_CA_BUNDLE={ca}" in printed and KEY not in printed
        listed = requests.get(
            f"{SERVICE}/ListJobs",
            params={"key": KEY},
            proxies={"https": proxy},
            verify=str(ca),
            timeout=10,
        )
        assert listed.status_code == 200 and listed.json()["resourceSets"][0]["resources"] == []
    finally:
        stop.set()
        serving.join(10)
    assert not serving.is_alive()
