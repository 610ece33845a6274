"""The CLI entry points: arguments (project namespace or standalone), keys and the banner."""

import argparse
import subprocess
import sys
import threading

from azure_maps_emulator import cli


def test_cli_config_defaults_when_the_namespace_lacks_attributes(monkeypatch):
    monkeypatch.delenv(cli.KEY_ENV, raising=False)
    args = argparse.Namespace()
    config = cli.config_from_args(args)
    assert config.rate_limit == 10
    assert config.faults.timeout_rate == 0.0 and config.faults.timeout_over_items is None
    assert config.seed == 0
    # No key given: a generated one, remembered so the banner may show it.
    [key] = config.keys
    assert len(key) == 32 and args.key == [key] and args.generated_key is True


def test_cli_key_from_the_environment(monkeypatch):
    monkeypatch.setenv(cli.KEY_ENV, " env-key ")
    args = argparse.Namespace(key=[])
    assert cli.config_from_args(args).keys == {"env-key"}
    assert not getattr(args, "generated_key", False)


def test_cli_given_keys_win_over_the_environment(monkeypatch):
    monkeypatch.setenv(cli.KEY_ENV, "env-key")
    assert cli.config_from_args(argparse.Namespace(key=["a", "b"])).keys == {"a", "b"}


def test_cli_config_none_means_default_and_zero_means_unlimited():
    assert cli.config_from_args(argparse.Namespace(rate_limit=None, key=["k"])).rate_limit == 10
    assert cli.config_from_args(argparse.Namespace(rate_limit=0, key=["k"])).rate_limit is None


def test_cli_parser_reads_every_option():
    args = cli.build_parser().parse_args(
        [
            "--port", "0", "--rate-limit", "5", "--throttle-rate", "0.1", "--error-rate", "0.2",
            "--timeout-rate", "0.05", "--delay-seconds", "0.5", "--delay-rate", "0.3",
            "--timeout-over-items", "50", "--seed", "9", "--key", "k1", "--key", "k2",
        ]
    )  # fmt: skip
    config = cli.config_from_args(args)
    assert (args.port, config.rate_limit, config.seed) == (0, 5, 9)
    assert config.keys == {"k1", "k2"}
    faults = config.faults
    assert (faults.throttle_rate, faults.error_rate, faults.timeout_rate) == (0.1, 0.2, 0.05)
    assert (faults.delay_seconds, faults.delay_rate) == (0.5, 0.3)
    assert faults.timeout_over_items == 50


def test_cli_default_port():
    assert cli.build_parser().parse_args([]).port == 8788


def test_cli_run_emulator_never_prints_a_given_key(geocoder, capsys):
    stop = threading.Event()
    stop.set()  # stop as soon as the banner is out
    args = argparse.Namespace(port=0, key=["very-secret-key"])
    assert cli.run_emulator(args, stop=stop) == 0
    out = capsys.readouterr().out
    assert "listening on http://127.0.0.1:" in out
    assert 'MapsSearchClient(AzureKeyCredential(key), endpoint="http://127.0.0.1:' in out
    assert "1 accepted" in out and "very-secret-key" not in out


def test_cli_run_emulator_prints_a_generated_key_once(geocoder, capsys, monkeypatch):
    monkeypatch.delenv(cli.KEY_ENV, raising=False)
    stop = threading.Event()
    stop.set()
    args = argparse.Namespace(port=0, timeout_over_items=10, error_rate=0.1)
    assert cli.run_emulator(args, stop=stop) == 0
    out = capsys.readouterr().out
    [key] = args.key
    assert f"key:        {key}" in out and f"export {cli.KEY_ENV}={key}" in out
    assert "408 for every batch of more than 10 items" in out and "error 0.1" in out


def test_cli_run_emulator_refuses_bad_settings(capsys):
    assert cli.run_emulator(argparse.Namespace(timeout_rate=2.0, key=["k"])) == 2
    assert "timeout_rate" in capsys.readouterr().err


def test_cli_module_runs_standalone():
    done = subprocess.run(
        [sys.executable, "-m", "azure_maps_emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--timeout-over-items" in done.stdout
