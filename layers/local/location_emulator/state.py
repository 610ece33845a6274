"""What one Amazon Location emulator has seen: the shared request counters (thread-safe).

Operations are ``Geocode`` and ``ReverseGeocode``; fault kinds ``throttle``, ``error`` and
``delay``. "Accepted" means let through by the rate limiter, so counted against the quota; an
accepted request can still end in a 400 or an injected 500.
"""

from __future__ import annotations

from emulator_support.counters import RequestCounters


class LocationEmulatorState(RequestCounters):
    """Requests, accepted, rate_limited, throttled, faults, errors, succeeded and the
    sliding-window figures; see ``emulator_support.counters``."""
