"""Configuration of the pipeline functions, read once from the environment.

A missing variable fails the cold start with its name rather than surfacing later as a
confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"environment variable {name} must be a number, got {raw!r}"
        ) from exc


@dataclass(frozen=True)
class PipelineConfig:
    jobs_table_name: str
    bucket_name: str
    key_secret_arn: str
    dataflow_endpoint: str
    input_prefix: str = "inbox/"
    results_prefix: str = "results/"
    rejected_prefix: str = "rejected/"
    state_machine_arn: str | None = None
    max_entities: int = 200_000
    max_file_bytes: int = 300 * 1024 * 1024
    initial_wait_seconds: float = 5.0
    min_wait_seconds: float = 5.0
    max_wait_seconds: float = 300.0
    max_status_checks: int = 600
    record_retention_days: int = 400
    max_jobs_in_flight: int = 10
    max_jobs_per_day: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineConfig:
        env = os.environ if env is None else env
        return cls(
            jobs_table_name=_required(env, "JOBS_TABLE_NAME"),
            bucket_name=_required(env, "BUCKET_NAME"),
            key_secret_arn=_required(env, "BING_MAPS_KEY_SECRET_ARN"),
            dataflow_endpoint=_required(env, "DATAFLOW_ENDPOINT"),
            input_prefix=env.get("INPUT_PREFIX", "inbox/"),
            results_prefix=env.get("RESULTS_PREFIX", "results/"),
            rejected_prefix=env.get("REJECTED_PREFIX", "rejected/"),
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            max_entities=int(_number(env, "MAX_ENTITIES", 200_000)),
            max_file_bytes=int(_number(env, "MAX_FILE_MB", 300) * 1024 * 1024),
            initial_wait_seconds=_number(env, "INITIAL_WAIT_SECONDS", 5.0),
            min_wait_seconds=_number(env, "MIN_WAIT_SECONDS", 5.0),
            max_wait_seconds=_number(env, "MAX_WAIT_SECONDS", 300.0),
            max_status_checks=int(_number(env, "MAX_STATUS_CHECKS", 600)),
            record_retention_days=int(_number(env, "JOB_RECORD_RETENTION_DAYS", 400)),
            max_jobs_in_flight=int(_number(env, "MAX_JOBS_IN_FLIGHT", 10)),
            max_jobs_per_day=int(_number(env, "MAX_JOBS_PER_DAY", 50)),
        )
