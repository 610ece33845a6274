"""``run_emulator(args)``: the arguments the project CLI passes become the emulator's config."""

import argparse

from dataflow_emulator.cli import build_parser, config_from_args, run_emulator


def test_cli_arguments_map_onto_the_config():
    args = build_parser().parse_args(
        [
            "--key",
            "a",
            "--key",
            "b",
            "--processing-seconds",
            "0.5",
            "--quirk",
            "element-order",
            "--max-pending-jobs",
            "3",
            "--max-jobs-per-day",
            "7",
            "--retention-days",
            "1.5",
        ]
    )
    config = config_from_args(args)
    assert config.keys == {"a", "b"}
    assert (config.processing_seconds, config.max_pending_jobs, config.max_jobs_per_day) == (
        0.5,
        3,
        7,
    )
    assert config.retention_days == 1.5 and config.quirks == {"element-order"}


def test_cli_key_defaults_to_the_environment_then_a_generated_one(monkeypatch):
    monkeypatch.setenv("BING_MAPS_KEY", "from-env")
    assert config_from_args(argparse.Namespace(key=[])).keys == {"from-env"}
    monkeypatch.delenv("BING_MAPS_KEY")
    args = argparse.Namespace(key=[])
    (generated,) = config_from_args(args).keys
    assert len(generated) == 32 and args.key == [generated]


def test_cli_refuses_an_unknown_quirk_before_listening(capsys):
    args = build_parser().parse_args(["--quirk", "no-such-quirk", "--port", "0"])
    assert run_emulator(args) == 2
    assert "unknown quirks" in capsys.readouterr().err
