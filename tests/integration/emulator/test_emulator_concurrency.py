"""20 concurrent clients creating, polling and downloading jobs get consistent answers."""

import csv
import threading

import pytest
import requests
from emulator_http_support import KEY, output_urls, wait_until_done

pytestmark = pytest.mark.integration

CLIENTS = 20
PLACES = ["98052", "Denver, CO", "Paris, France", "Springfield, IL", "Tokyo", "10001"]


def _feed(client: int) -> tuple[bytes, set[str], set[str]]:
    good, bad = set(), set()
    rows = []
    for i in range(5 + client % 7):
        entity_id = f"c{client}-e{i}"
        if i % 4 == 3:
            rows.append(f"{entity_id},")  # no query: the service fails it
            bad.add(entity_id)
        else:
            rows.append(f'{entity_id},"{PLACES[(client + i) % len(PLACES)]}"')
            good.add(entity_id)
    body = (
        "Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query,GeocodeResponse/Point/"
        "Latitude,StatusCode\n" + "\n".join(rows) + "\n"
    )
    return body.encode(), good, bad


def _client(emulator, client: int, failures: list) -> None:
    try:
        body, good, bad = _feed(client)
        session = requests.Session()
        created = session.post(
            f"{emulator.base_url}/Geocode",
            params={"input": "csv", "key": KEY, "description": f"client {client}"},
            data=body,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["resourceSets"][0]["resources"][0]["id"]
        job = wait_until_done(session, created.headers["Location"], timeout=30)
        assert job["id"] == job_id and job["description"] == f"client {client}"
        assert job["status"] == "Completed"
        assert job["totalEntityCount"] == job["processedEntityCount"] == len(good) + len(bad)
        assert job["failedEntityCount"] == len(bad)
        seen = {}
        for name, url in output_urls(job).items():
            result = session.get(url, params={"key": KEY}, timeout=30)
            assert result.status_code == 200
            rows = list(csv.reader(result.text.splitlines()[2:]))
            seen[name] = {row[0] for row in rows}
            expected_status = "Success" if name == "succeeded" else "BadRequest"
            assert all(row[3] == expected_status for row in rows)
            if name == "succeeded":
                assert all(row[2] for row in rows)  # every place here is known
        assert seen == {"succeeded": good, "failed": bad}
    except Exception as exc:  # noqa: BLE001 - collected and reported by the main thread
        failures.append((client, exc))


def test_twenty_concurrent_clients_get_consistent_answers(start_emulator):
    emulator = start_emulator(max_pending_jobs=100, max_jobs_per_day=1000, processing_seconds=0.5)
    failures: list = []
    threads = [
        threading.Thread(target=_client, args=(emulator, n, failures)) for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    state = emulator.state.to_dict()
    assert state["jobs_created"] == CLIENTS
    assert state["jobs_by_status"] == {"Completed": CLIENTS}
    assert 1 <= state["max_concurrent_pending"] <= CLIENTS
    assert state["calls"]["create"] == CLIENTS
