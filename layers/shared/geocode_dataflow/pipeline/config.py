"""Configuration of the pipeline functions, read once from the environment.

A missing variable fails the cold start with its name rather than surfacing later as a
confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


# The Provider template parameter: who geocodes. Bing runs the job itself (Dataflow API); the
# synchronous providers answer one request at a time and the pipeline's engine runs the job.
BING_DATAFLOW = "BingDataflow"
AMAZON_LOCATION = "AmazonLocation"
AZURE_MAPS = "AzureMaps"
PROVIDERS = (BING_DATAFLOW, AMAZON_LOCATION, AZURE_MAPS)
# 0 in the template means "the provider's default": its usual quota, and chunks that hold
# enough requests to keep it busy (Azure answers 100 entities per request).
DEFAULT_REQUESTS_PER_SECOND = {AMAZON_LOCATION: 50.0, AZURE_MAPS: 10.0}
DEFAULT_CHUNK_ENTITIES = {AMAZON_LOCATION: 200, AZURE_MAPS: 2000}


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value <= 0:
        raise ConfigurationError(f"environment variable {name} must be positive, got {value:g}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return max(1, int(_positive(env, name, default)))


def _provider_default(
    env: Mapping[str, str], name: str, defaults: Mapping[str, float], provider: str
) -> Any:
    """A number where 0 or nothing means the provider's own default."""
    value = _number(env, name, 0)
    if value < 0:
        raise ConfigurationError(f"environment variable {name} must be >= 0, got {value:g}")
    default = defaults.get(provider, 1)
    result = value or default
    return type(default)(result) if isinstance(default, int) else result


BING_MAX_ENTITIES = 200_000
NO_ENTITY_CAP = 10**9  # synchronous providers: only the file size bounds a job


def _max_entities(env: Mapping[str, str], bing: bool) -> int:
    """MAX_ENTITIES, where 0 (the template's default) means the provider's own limit."""
    value = int(_number(env, "MAX_ENTITIES", 0))
    if value < 0:
        raise ConfigurationError(f"environment variable MAX_ENTITIES must be >= 0, got {value}")
    if value == 0:
        return BING_MAX_ENTITIES if bing else NO_ENTITY_CAP
    return min(value, BING_MAX_ENTITIES) if bing else value


@dataclass(frozen=True)
class PipelineConfig:
    jobs_table_name: str
    bucket_name: str
    key_secret_arn: str | None = None  # Bing only: the secret holding the key
    dataflow_endpoint: str | None = None  # Bing only
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
    provider: str = BING_DATAFLOW
    # The job engine of synchronous providers (everything but Bing).
    engine_state_machine_arn: str | None = None
    # Data source backups run in a state machine of their own (``pipeline.backup``).
    backup_state_machine_arn: str | None = None
    work_prefix: str = "work/"
    chunk_entities: int = 200
    chunk_concurrency: int = 5
    request_concurrency: int = 4  # requests in flight per chunk
    requests_per_second: float = 50.0
    places_endpoint: str | None = None  # Amazon Location: None = the regional AWS endpoint
    intended_use: str = "Storage"
    azure_key_secret_arn: str | None = None  # Azure Maps only: the secret holding its key
    azure_endpoint: str = "https://atlas.microsoft.com"
    azure_api_version: str = "2026-01-01"
    notification_topic_arn: str | None = None  # SNS topic for end-of-job emails; None = none
    event_bus_name: str = "default"  # where end-of-job events go

    @property
    def uses_engine(self) -> bool:
        """True when the pipeline runs the job itself (a synchronous provider)."""
        return self.provider != BING_DATAFLOW

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineConfig:
        env = os.environ if env is None else env
        provider = env.get("PROVIDER", "").strip() or BING_DATAFLOW
        if provider not in PROVIDERS:
            raise ConfigurationError(
                f"environment variable PROVIDER must be one of {', '.join(PROVIDERS)}, got {provider!r}"
            )
        bing = provider == BING_DATAFLOW
        return cls(
            jobs_table_name=_required(env, "JOBS_TABLE_NAME"),
            bucket_name=_required(env, "BUCKET_NAME"),
            key_secret_arn=_required(env, "BING_MAPS_KEY_SECRET_ARN") if bing else None,
            dataflow_endpoint=_required(env, "DATAFLOW_ENDPOINT") if bing else None,
            provider=provider,
            engine_state_machine_arn=env.get("ENGINE_STATE_MACHINE_ARN") or None,
            backup_state_machine_arn=(
                env.get("DATASOURCE_BACKUP_STATE_MACHINE_ARN", "").strip() or None
            ),
            work_prefix=env.get("WORK_PREFIX", "work/"),
            chunk_entities=_provider_default(
                env, "CHUNK_ENTITIES", DEFAULT_CHUNK_ENTITIES, provider
            ),
            chunk_concurrency=_positive_int(env, "CHUNK_CONCURRENCY", 5),
            request_concurrency=_positive_int(env, "REQUEST_CONCURRENCY", 4),
            requests_per_second=float(
                _provider_default(
                    env, "PROVIDER_REQUESTS_PER_SECOND", DEFAULT_REQUESTS_PER_SECOND, provider
                )
            ),
            places_endpoint=env.get("AMAZON_LOCATION_ENDPOINT", "").strip() or None,
            intended_use=env.get("AMAZON_LOCATION_INTENDED_USE", "").strip() or "Storage",
            azure_key_secret_arn=(
                _required(env, "AZURE_MAPS_KEY_SECRET_ARN") if provider == AZURE_MAPS else None
            ),
            azure_endpoint=env.get("AZURE_MAPS_ENDPOINT", "").strip()
            or "https://atlas.microsoft.com",
            azure_api_version=env.get("AZURE_MAPS_API_VERSION", "").strip() or "2026-01-01",
            notification_topic_arn=env.get("NOTIFICATION_TOPIC_ARN", "").strip() or None,
            event_bus_name=env.get("EVENT_BUS_NAME", "").strip() or "default",
            input_prefix=env.get("INPUT_PREFIX", "inbox/"),
            results_prefix=env.get("RESULTS_PREFIX", "results/"),
            rejected_prefix=env.get("REJECTED_PREFIX", "rejected/"),
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            max_entities=_max_entities(env, bing),
            max_file_bytes=int(_number(env, "MAX_FILE_MB", 300) * 1024 * 1024),
            initial_wait_seconds=_number(env, "INITIAL_WAIT_SECONDS", 5.0),
            min_wait_seconds=_number(env, "MIN_WAIT_SECONDS", 5.0),
            max_wait_seconds=_number(env, "MAX_WAIT_SECONDS", 300.0),
            max_status_checks=int(_number(env, "MAX_STATUS_CHECKS", 600)),
            record_retention_days=int(_number(env, "JOB_RECORD_RETENTION_DAYS", 400)),
            max_jobs_in_flight=int(_number(env, "MAX_JOBS_IN_FLIGHT", 10)),
            max_jobs_per_day=int(_number(env, "MAX_JOBS_PER_DAY", 50)),
        )
