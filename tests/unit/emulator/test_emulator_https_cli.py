"""``--ca-cert`` / ``--https-proxy-port``: the https proxy's options, standalone and through the
project CLI (parsed only: nothing listens here)."""

import sys
import types
from pathlib import Path

from dataflow_emulator.cli import build_parser, run_emulator, server_options
from geocode_dataflow import cli


def test_the_https_proxy_is_off_unless_a_ca_file_is_asked_for(tmp_path):
    assert server_options(build_parser().parse_args([])) == {}
    ca = tmp_path / "ca.pem"
    assert server_options(build_parser().parse_args(["--ca-cert", str(ca)])) == {
        "https_proxy_port": 8443,
        "ca_cert": ca,
    }
    chosen = build_parser().parse_args(["--ca-cert", str(ca), "--https-proxy-port", "0"])
    assert server_options(chosen) == {"https_proxy_port": 0, "ca_cert": ca}


def test_a_proxy_port_without_a_ca_file_is_a_usage_error(capsys):
    args = build_parser().parse_args(["--https-proxy-port", "0", "--port", "0"])
    assert run_emulator(args) == 2
    assert "needs --ca-cert" in capsys.readouterr().err


def test_the_project_cli_passes_the_https_options_through(monkeypatch):
    seen = {}
    fake = types.ModuleType("dataflow_emulator.cli")
    fake.run_emulator = lambda args: seen.update(vars(args)) or 0
    monkeypatch.setitem(sys.modules, "dataflow_emulator.cli", fake)
    assert cli.main(["emulator", "--ca-cert", "ca.pem", "--https-proxy-port", "9443"]) == 0
    assert server_options(types.SimpleNamespace(**seen)) == {
        "https_proxy_port": 9443,
        "ca_cert": Path("ca.pem"),
    }


def test_the_project_cli_refuses_the_https_options_for_other_providers(capsys):
    assert cli.main(["emulator", "--provider", "amazon-location", "--ca-cert", "ca.pem"]) == 2
    assert "--ca-cert applies to --provider bing-dataflow only" in capsys.readouterr().err
