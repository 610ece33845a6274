"""Proxy mode, connection-level faults and the control endpoints, over real sockets."""

import http.client

import pytest
import requests
from dataflow_emulator import FaultConfig
from emulator_http_support import FIXTURES, KEY, only_job, output_urls, wait_until_done

pytestmark = pytest.mark.integration

SERVICE = "http://spatial.virtualearth.net/REST/v1/Dataflows"


def test_proxy_mode_keeps_the_client_on_the_host_it_asked_for(emulator):
    session = requests.Session()
    session.proxies = {"http": emulator.url}
    created = session.post(
        f"{SERVICE}/Geocode",
        params={"input": "csv", "key": KEY},
        data=(FIXTURES / "sample_input.csv").read_bytes(),
        timeout=30,
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location.startswith("http://spatial.virtualearth.net/REST/v1/dataflows/Geocode/")
    job = wait_until_done(session, location)
    urls = output_urls(job)
    assert set(urls) == {"succeeded", "failed"}
    assert all(url.startswith("http://spatial.virtualearth.net/") for url in urls.values())
    result = session.get(urls["succeeded"], params={"key": KEY}, timeout=30)
    assert result.status_code == 200 and result.text.startswith("Bing Spatial Data Services, 2.0")
    listed = session.get(f"{SERVICE}/ListJobs", params={"key": KEY}, timeout=30)
    assert only_job(listed)["id"] == job["id"]


def test_https_through_the_proxy_is_refused_clearly(emulator):
    with pytest.raises(requests.exceptions.ProxyError, match="501"):
        requests.get(
            "https://spatial.virtualearth.net/REST/v1/Dataflows/ListJobs",
            params={"key": KEY},
            proxies={"https": emulator.url},
            timeout=10,
        )
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        connection.request(
            "CONNECT",
            "spatial.virtualearth.net:443",
            headers={"Host": "spatial.virtualearth.net:443"},
        )
        answer = connection.getresponse()
        assert answer.status == 501
        assert "plain http" in answer.read().decode()
    finally:
        connection.close()


def test_reset_fault_is_a_connection_error_and_nothing_happens(emulator):
    emulator.set_faults(FaultConfig(reset_rate={"create": 1.0}))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{emulator.base_url}/Geocode",
            params={"input": "csv", "key": KEY},
            data=(FIXTURES / "sample_input.csv").read_bytes(),
            timeout=10,
        )
    assert emulator.state.jobs_created == 0
    emulator.set_faults(FaultConfig())
    ok = requests.get(f"{emulator.base_url}/ListJobs", params={"key": KEY}, timeout=10)
    assert ok.status_code == 200


def test_lost_response_creates_the_job_but_the_client_never_hears(emulator):
    emulator.set_faults(FaultConfig(lost_response_rate={"create": 1.0}))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{emulator.base_url}/Geocode",
            params={"input": "csv", "key": KEY},
            data=(FIXTURES / "sample_input.csv").read_bytes(),
            timeout=10,
        )
    assert emulator.state.jobs_created == 1
    assert emulator.state.to_dict()["faults_injected"] == {"lost_response": 1}


def test_faults_can_be_set_over_http(emulator):
    token = {"Authorization": f"Bearer {emulator.control_token}"}
    response = requests.post(
        f"{emulator.url}/emulator/faults",
        json={"error_rate": {"list": 1.0}, "error_statuses": [503]},
        headers=token,
        timeout=10,
    )
    assert response.status_code == 200
    refused = requests.get(f"{emulator.base_url}/ListJobs", params={"key": KEY}, timeout=10)
    assert refused.status_code == 503
    assert refused.json()["errorDetails"]
    state = requests.get(f"{emulator.url}/emulator/state", headers=token, timeout=10).json()
    assert state["calls"] == {"list": 1} and state["faults_injected"] == {"error_503": 1}
