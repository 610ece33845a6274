"""Plumbing the provider emulators share: the background waitress server, the serve-until-Ctrl-C
loop, the JSON WSGI app base, the seeded fault draws, the sliding-window limiter and counters,
and the https proxy (``connect_proxy``, over ``socket_wsgi``) for clients that hard-code https.

Local and test use only, like the emulators. Nothing here knows a provider: each emulator keeps
its own routes, shapes, errors and banner, and subclasses or calls these pieces.
"""

from .cli import EmulatorCli
from .connect_proxy import ConnectProxy
from .counters import RequestCounters
from .faults import SeededFaultInjector
from .limits import WINDOW_SECONDS, SlidingWindowLimiter, max_in_window, window_capacity
from .server import BackgroundWsgiServer, JsonEmulatorServer
from .wsgi import AnsweredError, JsonEmulatorApp, Response

__all__ = [
    "WINDOW_SECONDS",
    "AnsweredError",
    "BackgroundWsgiServer",
    "ConnectProxy",
    "EmulatorCli",
    "JsonEmulatorApp",
    "JsonEmulatorServer",
    "RequestCounters",
    "Response",
    "SeededFaultInjector",
    "SlidingWindowLimiter",
    "max_in_window",
    "window_capacity",
]
