"""The CLI entry points: arguments (project namespace or standalone) and the banner."""

import argparse
import subprocess
import sys
import threading

from location_emulator import cli


def test_cli_config_defaults_when_the_namespace_lacks_attributes():
    config = cli.config_from_args(argparse.Namespace())
    assert config.api_keys == set()
    assert config.rate_limit == 100
    assert config.faults.throttle_rate == 0.0 and config.seed == 0


def test_cli_config_none_means_default_and_zero_means_unlimited():
    assert cli.config_from_args(argparse.Namespace(rate_limit=None, api_key=None)).rate_limit == 100
    assert cli.config_from_args(argparse.Namespace(rate_limit=0)).rate_limit is None


def test_cli_parser_reads_every_option():
    args = cli.build_parser().parse_args(
        [
            "--port", "0", "--rate-limit", "5", "--throttle-rate", "0.1", "--error-rate", "0.2",
            "--delay-seconds", "0.5", "--delay-rate", "0.3", "--seed", "9",
            "--api-key", "k1", "--api-key", "k2",
        ]
    )  # fmt: skip
    config = cli.config_from_args(args)
    assert (args.port, config.rate_limit, config.seed) == (0, 5, 9)
    assert config.api_keys == {"k1", "k2"}
    faults = config.faults
    assert (faults.throttle_rate, faults.error_rate) == (0.1, 0.2)
    assert (faults.delay_seconds, faults.delay_rate) == (0.5, 0.3)


def test_cli_run_emulator_prints_how_to_reach_it_and_never_the_key(geocoder, capsys):
    stop = threading.Event()
    stop.set()  # stop as soon as the banner is out
    args = argparse.Namespace(port=0, api_key=["very-secret-key"])
    assert cli.run_emulator(args, stop=stop) == 0
    out = capsys.readouterr().out
    assert "AWS_ENDPOINT_URL_GEO_PLACES=http://127.0.0.1:" in out
    assert "1 accepted" in out and "very-secret-key" not in out


def test_cli_run_emulator_refuses_bad_settings(capsys):
    assert cli.run_emulator(argparse.Namespace(error_rate=2.0)) == 2
    assert "error_rate" in capsys.readouterr().err


def test_cli_module_runs_standalone():
    done = subprocess.run(
        [sys.executable, "-m", "location_emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--rate-limit" in done.stdout
