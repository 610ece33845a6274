"""``--allow-data-location`` entries, the control token's configuration and the CLI's words
about both (refusals that need no connection are checked in-process)."""

import argparse
import ipaddress
import re
import threading

import pytest
from dataflow_emulator import AllowedHost, EmulatorConfig
from dataflow_emulator.cli import build_parser, config_from_args, run_emulator
from emulator_unit_support import GEOCODE_PATH, KEY


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [
        ("blobs.example.com", "blobs.example.com", None),
        ("Blobs.Example.COM:8443", "blobs.example.com", 8443),
        ("127.0.0.1:8000", "127.0.0.1", 8000),
        ("[::1]:8000", "::1", 8000),
        ("[0:0:0:0:0:0:0:1]", "::1", None),
        ("::1", "::1", None),
        ("localhost:9000", "localhost", 9000),
    ],
)
def test_data_location_entries_parse(entry, host, port):
    assert AllowedHost.parse(entry) == AllowedHost(host, port)


@pytest.mark.parametrize(
    "entry",
    ["", "http://blobs.example.com", "host/path", "user@host", "host:0", "host:99999", "[::1"],
)
def test_data_location_bad_entries_are_refused(entry):
    with pytest.raises(ValueError, match="allow-data-location"):
        AllowedHost.parse(entry)


def test_data_location_special_addresses_need_listing_themselves():
    loopback = ipaddress.ip_address("127.0.0.1")
    assert AllowedHost.parse("127.0.0.1:80").allows_special(loopback)
    assert AllowedHost.parse("localhost").allows_special(loopback)
    assert not AllowedHost.parse("blobs.internal").allows_special(loopback)
    assert not AllowedHost.parse("localhost").allows_special(ipaddress.ip_address("169.254.1.1"))


def test_data_location_refusals_need_no_connection(make_api):
    off = make_api().create(data=b"", dataLocation="http://127.0.0.1:9/feed.csv")
    assert "--allow-data-location" in " ".join(off.get_json()["errorDetails"])
    api = make_api(data_location_hosts=("127.0.0.1:9",))
    for url, words in (
        ("ftp://127.0.0.1:9/feed.csv", "http or https"),
        ("http://127.0.0.1:10/feed.csv", "not one this emulator may fetch from"),
        ("http://127.0.0.1:x/feed.csv", "not a valid URL"),
    ):
        response = api.create(data=b"", dataLocation=url)
        assert response.status_code == 400
        assert words in " ".join(response.get_json()["errorDetails"]), url


def test_control_token_is_generated_unless_given():
    first, second = EmulatorConfig(keys={KEY}), EmulatorConfig(keys={KEY})
    assert len(first.control_token) >= 16 and first.control_token != second.control_token
    assert EmulatorConfig(control_token="t" * 16).control_token == "t" * 16
    for bad in ("short", "has spaces in it, sixteen+", "ünïcödé-token-0123456789"):
        with pytest.raises(ValueError, match="control_token"):
            EmulatorConfig(control_token=bad)


def test_control_endpoints_refuse_without_the_token_in_process(api):
    assert api.client.get("/emulator/state").status_code == 401
    assert api.client.get("/emulator/nothing-here").status_code == 401  # nothing to probe
    token = {"Authorization": f"Bearer {api.app.config.control_token}"}
    plain = api.client.post("/emulator/clock", data="{}", content_type="text/plain", headers=token)
    assert plain.status_code == 415
    assert api.client.get("/emulator/nothing-here", headers=token).status_code == 404
    assert api.client.get(GEOCODE_PATH + "/x", query_string={"key": KEY}).status_code == 404


def test_cli_safety_options_map_onto_the_config():
    args = build_parser().parse_args(
        [
            "--allow-data-location",
            "127.0.0.1:8000",
            "--allow-data-location",
            "blobs.example.com",
            "--control-token",
            "c" * 20,
        ]
    )
    config = config_from_args(args)
    assert config.data_location_hosts == (
        AllowedHost("127.0.0.1", 8000),
        AllowedHost("blobs.example.com"),
    )
    assert config.control_token == "c" * 20
    defaults = config_from_args(argparse.Namespace(key=["k"]))
    assert defaults.data_location_hosts == () and len(defaults.control_token) >= 16


def test_cli_banner_shows_a_generated_control_token_only(capsys):
    stop = threading.Event()
    stop.set()  # stop as soon as the banner is out
    args = build_parser().parse_args(["--port", "0", "--key", "k"])
    assert run_emulator(args, stop=stop) == 0
    out = capsys.readouterr().out
    generated = re.search(r"Authorization: Bearer (\S+)'", out).group(1)
    assert len(generated) >= 16 and "dataLocation: off" in out
    given = "g" * 24
    args = build_parser().parse_args(
        ["--port", "0", "--key", "k", "--control-token", given, "--allow-data-location", "h:1"]
    )
    assert run_emulator(args, stop=stop) == 0
    out = capsys.readouterr().out
    assert given not in out and "Bearer TOKEN" in out and "fetched from: h:1" in out
