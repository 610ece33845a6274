"""The emulator's REST surface in-process: envelopes, lifecycle, limits, errors."""

import gzip
import io
import json
import time
import zipfile

import pytest
from emulator_unit_support import CSV_FEED, GEOCODE_PATH, KEY, OTHER_KEY, REST, xml_root

ENVELOPE_KEYS = [
    "authenticationResultCode",
    "brandLogoUri",
    "copyright",
    "resourceSets",
    "statusCode",
    "statusDescription",
    "traceId",
]
ERROR_KEYS = [
    "authenticationResultCode",
    "brandLogoUri",
    "copyright",
    "errorDetails",
    "resourceSets",
    "statusCode",
    "statusDescription",
    "traceId",
]


def _feed(count: int) -> bytes:
    rows = "".join(f'{i},"{i} Main St, Redmond, WA"\n' for i in range(count))
    return f"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n{rows}".encode()


# -- create ----------------------------------------------------------------------------------------


def test_create_answers_201_with_location_and_a_pending_job(api):
    response = api.create()
    assert response.status_code == 201
    document = response.get_json()
    assert list(document) == ENVELOPE_KEYS
    assert (document["statusCode"], document["statusDescription"]) == (201, "Created")
    job = api.job(response)
    assert list(job) == [
        "__type",
        "id",
        "links",
        "createdDate",
        "description",
        "failedEntityCount",
        "processedEntityCount",
        "status",
        "totalEntityCount",
    ]
    assert job["__type"] == "DataflowJob:http://schemas.microsoft.com/search/local/ws/rest/v1"
    assert len(job["id"]) == 32 and int(job["id"], 16) >= 0
    assert job["links"] == [{"role": "self", "url": response.headers["Location"]}]
    assert response.headers["Location"].endswith(f"/REST/v1/dataflows/Geocode/{job['id']}")
    assert (job["status"], job["totalEntityCount"], job["processedEntityCount"]) == (
        "Pending",
        3,
        0,
    )
    assert job["description"] == "Geocode"  # the service's default (quirk Q41)
    assert job["createdDate"].endswith(" GMT")


def test_create_escapes_slashes_like_the_service(api):
    raw = api.create().get_data(as_text=True)
    logo = "http:\\/\\/spatial.virtualearth.net\\/Branding\\/logo_powered_by.png"
    assert f'"brandLogoUri":"{logo}"' in raw
    assert "/" not in raw.replace("\\/", "")


def test_create_stores_description_and_answers_xml(api):
    response = api.create(description="My batch", output="xml")
    assert response.headers["Content-Type"].startswith("application/xml")
    root = xml_root(response)
    assert root.tag == f"{REST}Response"
    assert [child.tag.removeprefix(REST) for child in root] == [
        "Copyright",
        "BrandLogoUri",
        "StatusCode",
        "StatusDescription",
        "AuthenticationResultCode",
        "TraceId",
        "ResourceSets",
    ]
    job = root.find(f"{REST}ResourceSets/{REST}ResourceSet/{REST}Resources/{REST}DataflowJob")
    assert [child.tag.removeprefix(REST) for child in job] == [
        "Id",
        "Link",
        "Description",
        "Status",
        "CreatedDate",
        "CompletedDate",
        "TotalEntityCount",
        "ProcessedEntityCount",
        "FailedEntityCount",
    ]
    assert job.find(f"{REST}Description").text == "My batch"
    nil = job.find(f"{REST}CompletedDate").get("{http://www.w3.org/2001/XMLSchema-instance}nil")
    assert nil == "true"
    assert job.find(f"{REST}Link").attrib == {"role": "self"}


def test_paths_and_parameter_names_are_case_insensitive_unknown_ones_ignored(api):
    response = api.client.post(
        "/rest/V1/DATAFLOWS/geocode",
        query_string={"INPUT": "CSV", "Key": KEY, "O": "XML", "clientApi": "SDSToolkit"},
        data=CSV_FEED,
    )
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/xml")
    job_id = xml_root(response).find(f".//{REST}Id").text
    status = api.client.get(
        f"/Rest/v1/DataFlows/GEOCODE/{job_id.upper()}", query_string={"KEY": KEY, "Output": "Json"}
    )
    assert status.status_code == 200 and api.job(status)["id"] == job_id


@pytest.mark.parametrize("wrapping", ["gzip", "content-encoding", "zip", "utf16"])
def test_create_accepts_compressed_and_utf16_bodies(api, wrapping):
    headers = {}
    if wrapping in ("gzip", "content-encoding"):
        body = gzip.compress(CSV_FEED)
        if wrapping == "content-encoding":
            headers["Content-Encoding"] = "gzip"
    elif wrapping == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("feed.csv", CSV_FEED)
        body = buffer.getvalue()
    else:
        body = CSV_FEED.decode().encode("utf-16")
    job = api.created_job(data=body, headers=headers)
    assert job["totalEntityCount"] == 3


# -- errors ----------------------------------------------------------------------------------------


def test_missing_key_is_401_no_credentials(api):
    response = api.create(key=None)
    assert response.status_code == 401
    document = response.get_json()
    assert list(document) == ERROR_KEYS
    assert document["authenticationResultCode"] == "NoCredentials"
    assert document["resourceSets"] == [] and document["errorDetails"]
    assert document["statusCode"] == 401


def test_key_value_is_case_sensitive(api):
    response = api.create(key=KEY.upper())
    assert response.status_code == 401
    assert response.get_json()["authenticationResultCode"] == "InvalidCredentials"


def test_another_keys_job_is_401_not_authorized(api):
    job = api.created_job()
    for url in (job["links"][0]["url"], job["links"][0]["url"] + "/output/succeeded"):
        response = api.get(url, key=OTHER_KEY)
        assert response.status_code == 401
        assert response.get_json()["authenticationResultCode"] == "NotAuthorized"


@pytest.mark.parametrize(
    ("params", "body", "words"),
    [
        ({}, CSV_FEED, "input parameter is required"),
        ({"input": "kml"}, CSV_FEED, "not valid"),
        ({"input": "csv", "dataLocation": "http://127.0.0.1:9/feed.xml"}, CSV_FEED, "not both"),
        ({"input": "csv"}, b"", "body is empty"),
        ({"input": "csv", "output": "yaml"}, CSV_FEED, "output parameter"),
        ({"input": "csv"}, b"Id,GeocodeRequest/Query\n1,Paris\n", "not valid Geocode Dataflow"),
        (
            {"input": "csv"},
            b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n",
            "no entities",
        ),
        ({"input": "xml"}, b"<GeocodeFeed Version='2.0'><GeocodeEntity Id='1'>", "not valid"),
    ],
)
def test_bad_requests_are_400_with_error_details(api, params, body, words):
    response = api.client.post(GEOCODE_PATH, query_string={**params, "key": KEY}, data=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    document = response.get_json()
    assert document["statusCode"] == 400
    assert any(words in detail for detail in document["errorDetails"]), document["errorDetails"]


def test_body_declared_gzip_but_plain_is_400(api):
    response = api.create(headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_entity_and_size_limits_are_400(make_api):
    api = make_api(max_entities=2, max_upload_bytes=10_000)
    too_many = api.create(data=_feed(3))
    assert too_many.status_code == 400
    assert any("limit" in d for d in too_many.get_json()["errorDetails"])
    too_big = api.create(data=gzip.compress(_feed(1) + b"x" * 30_000))
    assert too_big.status_code == 400
    assert api.create(data=_feed(2)).status_code == 201


def test_errors_render_as_xml_when_asked(api):
    response = api.create(key="nope", output="xml")
    root = xml_root(response)
    assert root.find(f"{REST}AuthenticationResultCode").text == "InvalidCredentials"
    details = root.findall(f"{REST}ErrorDetails/{REST}string")
    assert details and details[0].text.startswith("Access was denied")


def test_unknown_job_unknown_path_and_wrong_method(api):
    missing = api.get(f"{GEOCODE_PATH}/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and missing.get_json()["errorDetails"]
    assert api.get("/REST/v1/Dataflows/Nothing").status_code == 404
    assert api.get(GEOCODE_PATH).status_code == 405


def test_pending_job_quota_is_per_key_and_503(make_api):
    api = make_api(max_pending_jobs=2, processing_seconds=60)
    api.created_job()
    api.created_job()
    refused = api.create()
    assert refused.status_code == 503
    assert refused.get_json()["errorDetails"] == [
        "JobUsageQuota: Account already has 2 'Pending' jobs"
    ]
    assert api.create(key=OTHER_KEY).status_code == 201
    api.advance(61)
    assert api.create().status_code == 201
    assert api.app.state.max_concurrent_pending == 3


def test_daily_job_quota_is_503_until_a_day_has_passed(make_api):
    api = make_api(max_jobs_per_day=2)
    api.created_job()
    api.created_job(key=OTHER_KEY)  # the daily limit is per account, all keys together
    refused = api.create()
    assert refused.status_code == 503
    assert refused.get_json()["errorDetails"][0].startswith("JobUsageQuota: Account has already")
    api.advance(24 * 3600 + 1)
    assert api.create().status_code == 201


# -- lifecycle -------------------------------------------------------------------------------------


def test_status_progresses_then_completes_with_counts_and_links(make_api):
    api = make_api(processing_seconds=10)
    feed = _feed(8) + b"8,\n9,\n"  # two entities the service fails
    job = api.created_job(data=feed)
    api.advance(5)
    halfway = api.status(job)
    assert (halfway["status"], halfway["processedEntityCount"]) == ("Pending", 5)
    assert "completedDate" not in halfway and len(halfway["links"]) == 1
    api.advance(6)
    done = api.status(job)
    assert (
        done["status"],
        done["totalEntityCount"],
        done["processedEntityCount"],
        done["failedEntityCount"],
    ) == ("Completed", 10, 10, 2)
    assert done["completedDate"].endswith(" GMT")
    assert [(link.get("name"), link["role"]) for link in done["links"]] == [
        (None, "self"),
        ("succeeded", "output"),
        ("failed", "output"),
    ]
    assert list(done["links"][1]) == ["name", "role", "url"]


def test_output_links_only_for_non_empty_sets(api):
    ok = api.status(api.created_job(data=_feed(2)))
    assert [link.get("name") for link in ok["links"]] == [None, "succeeded"]
    missing = api.get(ok["links"][0]["url"] + "/output/failed")
    assert missing.status_code == 404
    bad = api.status(
        api.created_job(data=b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query\n1,\n")
    )
    assert [link.get("name") for link in bad["links"]] == [None, "failed"]


def test_xml_status_of_completed_job_puts_role_before_name(api):
    job = api.created_job()
    response = api.get(job["links"][0]["url"], output="xml")
    raw = response.get_data(as_text=True)
    assert '<Link role="output" name="succeeded">' in raw
    assert '<Link role="output" name="failed">' in raw
    completed = xml_root(response).find(f".//{REST}CompletedDate").text
    assert len(completed.split(".")[1].split("+")[0].split("-")[0]) == 7  # 7 fractional digits


def test_text_download_echoes_header_and_columns(api):
    job = api.status(api.created_job())
    response = api.get(job["links"][1]["url"])
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    lines = response.get_data(as_text=True).splitlines()
    assert lines[:2] == CSV_FEED.decode().splitlines()[:2]


def test_retention_removes_jobs_and_results(make_api):
    api = make_api(retention_days=14)
    job = api.status(api.created_job())
    api.advance(13 * 86400)
    assert api.get(job["links"][1]["url"]).status_code == 200
    api.advance(2 * 86400)
    assert api.get(job["links"][0]["url"]).status_code == 404
    assert api.get(job["links"][1]["url"]).status_code == 404


def test_list_jobs_is_account_wide_recent_and_pending_first(make_api):
    api = make_api(processing_seconds=30)
    old = api.created_job()
    api.advance(16 * 86400)
    done = api.created_job(key=OTHER_KEY)
    api.advance(31)
    pending = api.created_job()
    response = api.get("/REST/v1/Dataflows/ListJobs")
    ids = [job["id"] for job in response.get_json()["resourceSets"][0]["resources"]]
    assert ids == [pending["id"], done["id"]]
    assert old["id"] not in ids


# -- quirks ----------------------------------------------------------------------------------------


def test_quirk_element_order_puts_status_between_links(make_api):
    api = make_api(quirks={"element-order"})
    job = api.created_job()
    raw = api.get(job["links"][0]["url"], output="xml").get_data(as_text=True)
    assert raw.index('<Link role="self">') < raw.index("<Status>") < raw.index('role="output"')


def test_quirk_output_link_key_and_ouput_url(make_api):
    api = make_api(quirks={"output-link-key", "ouput-url"})
    job = api.status(api.created_job())
    link = job["links"][1]
    assert list(link) == ["role", "output", "url"] and link["output"] == "succeeded"
    assert "/ouput/succeeded" in link["url"]
    assert api.get(link["url"]).status_code == 200  # the misspelt path is served


def test_quirks_empty_counts_nil_completed_date_wrong_xsi(make_api):
    api = make_api(quirks={"empty-counts", "nil-completed-date", "wrong-xsi-namespace"})
    job = api.status(api.created_job())
    assert job["status"] == "Completed" and "completedDate" not in job
    raw = api.get(job["links"][0]["url"], output="xml").get_data(as_text=True)
    assert "<ProcessedEntityCount></ProcessedEntityCount>" in raw
    assert '<CompletedDate xsi:nil="true" />' in raw
    assert 'xmlns:xsi="https://www.w3.org/2001/XMLSchema-instance"' in raw


def test_quirk_swapped_points_swaps_only_the_json_cell(make_api):
    feed = (
        b"Bing Spatial Data Services, 2.0\nId,GeocodeRequest/Query,GeocodeResponse/Point/"
        b"Latitude,GeocodeResponse/GeocodePoints\n1,98052\n"
    )
    api = make_api(quirks={"swapped-points"})
    job = api.status(api.created_job(data=feed))
    row = api.get(job["links"][1]["url"]).get_data(as_text=True).splitlines()[2]
    latitude = row.split(",")[2]
    cell = json.loads(row.split(",", 3)[3].strip('"').replace('""', '"'))
    assert cell[0]["Longitude"] == latitude


def test_quirk_shuffled_output_keeps_every_entity(make_api):
    api = make_api(quirks={"shuffled-output"}, seed=3)
    job = api.status(api.created_job(data=_feed(30)))
    rows = api.get(job["links"][1]["url"]).get_data(as_text=True).splitlines()[2:]
    ids = [row.split(",")[0] for row in rows]
    assert sorted(ids, key=int) == [str(i) for i in range(30)] and ids != sorted(ids, key=int)


def test_unknown_quirk_is_refused(make_api):
    with pytest.raises(ValueError, match="unknown quirks"):
        make_api(quirks={"no-such-quirk"})


# -- data source download --------------------------------------------------------------------------


def test_data_source_download_flow(make_api):
    api = make_api(processing_seconds=5)
    source = api.app.data_sources[0]
    for prefix in ("/REST/v1/Dataflows", "/REST/v1/data"):
        created = api.get(f"{prefix}/DataSourceDownload/{source.access_id}/{source.name}")
        assert created.status_code == 201
        job = api.job(created)
        assert created.headers["Location"] == job["links"][0]["url"]
        assert created.headers["Location"].endswith(f"/dataflows/DataSourceDownload/{source.name}")
        assert job["status"] == "Pending"
    assert api.get(job["links"][0]["url"] + "/output/succeeded").status_code == 404
    api.advance(6)
    done = api.status(job)
    assert done["status"] == "Completed" and done["totalEntityCount"] == len(source.rows)
    by_id = api.get(
        f"/REST/v1/Dataflows/DataSourceDownload/{source.access_id}/{source.name}/{job['id']}"
    )
    assert api.job(by_id)["id"] == job["id"]
    export = api.get(done["links"][1]["url"])
    assert export.status_code == 200
    root = xml_root(export)
    assert root.tag == "MainRoot"
    assert root[0].tag == "{http://www.w3.org/2001/XMLSchema}schema"
    entities = root.findall(source.entity_type)
    assert len(entities) == len(source.rows)
    assert entities[0].find("Locality").text == "Redmond"


def test_data_source_download_errors(make_api):
    from dataflow_emulator import DataSource

    locked = DataSource(
        name="Locked",
        entity_type="Thing",
        properties=(("EntityID", "xs:string"),),
        rows=(("1",),),
        master_key=KEY,
    )
    api = make_api(data_sources=[locked])
    unknown = api.get(f"/REST/v1/Dataflows/DataSourceDownload/{locked.access_id}/Nope")
    assert unknown.status_code == 404
    path = f"/REST/v1/Dataflows/DataSourceDownload/{locked.access_id}/Locked"
    wrong = api.get(path, key=OTHER_KEY)
    assert wrong.status_code == 401
    assert "master key" in " ".join(wrong.get_json()["errorDetails"])
    assert api.get(path, jobId="ffffffffffffffffffffffffffffffff").status_code == 404
    assert api.get(path, jobId=locked.versions[0]).status_code == 201


# -- control endpoints -----------------------------------------------------------------------------


def test_control_endpoints_report_state_and_set_faults(api):
    api.created_job()
    token = {"Authorization": f"Bearer {api.app.config.control_token}"}
    state = api.client.get("/emulator/state", headers=token).get_json()
    assert state["jobs_created"] == 1 and state["calls"]["create"] == 1
    posted = api.client.post(
        "/emulator/faults",
        json={"error_rate": {"status": 1.0}, "error_statuses": [503]},
        headers=token,
    )
    assert posted.status_code == 200
    job_id = api.app.state.jobs.popitem()[0]
    refused = api.get(f"{GEOCODE_PATH}/{job_id}")
    assert refused.status_code == 503
    faults = api.client.get("/emulator/state", headers=token).get_json()["faults_injected"]
    assert faults == {"error_503": 1}
    bad = api.client.post("/emulator/faults", json={"no_such_fault": 1}, headers=token)
    assert bad.status_code == 400
    moved = api.client.post("/emulator/clock", json={"advance_seconds": 3600}, headers=token)
    assert moved.status_code == 200 and "now" in moved.get_json()


def test_big_jobs_are_processed_in_the_background(make_api):
    api = make_api(inline_max_entities=0)
    job = api.created_job(data=_feed(40))
    deadline = time.monotonic() + 20
    while (status := api.status(job))["status"] == "Pending":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert (status["status"], status["processedEntityCount"]) == ("Completed", 40)
    assert list(api.app.workdir.glob("*.body")) == []  # uploads are dropped once processed
    rows = api.get(status["links"][1]["url"]).get_data(as_text=True).splitlines()[2:]
    assert len(rows) == 40
