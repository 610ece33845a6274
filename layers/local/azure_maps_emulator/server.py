"""``AzureMapsEmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread.

The lifecycle (start, and a stop that closes the sockets on the server's own loop) is the one
the Dataflow and Location emulators use; see README "Decisions" on why it is not shared yet.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from types import TracebackType
from typing import Any

from .app import AzureMapsEmulatorApp
from .config import AzureMapsEmulatorConfig, FaultConfig
from .state import AzureMapsEmulatorState

logger = logging.getLogger(__name__)


class AzureMapsEmulatorServer:
    """Context manager: ``with AzureMapsEmulatorServer(config) as emulator: emulator.url ...``.

    ``port=0`` picks a free ephemeral port. ``threads`` is waitress's worker pool: each
    in-flight request holds one, so keep it above the number of concurrent clients you test.
    ``preload`` loads the place data in ``start()`` (a few seconds, once per process), so the
    first request is as fast as the others.
    """

    def __init__(
        self,
        config: AzureMapsEmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = 32,
        preload: bool = True,
    ) -> None:
        self.config = config or AzureMapsEmulatorConfig()
        self.host = host
        self.port = port
        self.threads = threads
        self.preload = preload
        self.app = AzureMapsEmulatorApp(self.config)
        self._server = None
        self._thread: threading.Thread | None = None

    # -- what tests use ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the client's ``endpoint`` (no path: the operations are
        ``/geocode:batch`` and ``/reverseGeocode:batch`` at the root, as on atlas.microsoft.com)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> AzureMapsEmulatorState:
        return self.app.state

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults from now on."""
        self.app.set_faults(faults)

    def set_rate_limit(self, rate_limit: float | None) -> None:
        """Requests per sliding second from now on; 0 or None = unlimited."""
        self.app.set_rate_limit(rate_limit)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> AzureMapsEmulatorServer:
        import waitress  # local-only dependency

        if self.preload:
            _ = self.app.geocoder.gazetteer
        self._server = waitress.create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident="azure-maps-emulator",
            max_request_body_size=self.config.max_body_bytes,
            channel_timeout=60,
            asyncore_use_poll=True,
            expose_tracebacks=False,
        )
        self.port = self._server.effective_port
        self._thread = threading.Thread(
            target=_serve,
            args=(self._server,),
            name=f"azure-maps-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            done = threading.Event()

            def close_everything() -> None:
                # Runs on the server's own loop thread (via its trigger), so no socket is
                # closed under the loop's feet; an empty socket map ends the loop.
                for dispatcher in list(server._map.values()):
                    if dispatcher is not server.trigger:
                        with contextlib.suppress(OSError):
                            dispatcher.close()
                with contextlib.suppress(OSError):
                    server.trigger.close()
                done.set()

            try:
                server.trigger.pull_trigger(close_everything)
            except OSError:
                # The loop has already ended (and closed its trigger): nothing runs on it any
                # more, so the sockets left can be closed from here.
                close_everything()
            done.wait(5)
            if self._thread is not None:
                self._thread.join(5)
            server.task_dispatcher.shutdown(timeout=5)
        self._thread = None

    def __enter__(self) -> AzureMapsEmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _serve(server: Any) -> None:
    # The server is passed in, not read from the instance: stop() may already have cleared it.
    try:
        server.run()
    except (OSError, ValueError):
        # Closing the sockets from stop() can surface here as the loop winds down.
        logger.debug("emulator loop ended", exc_info=True)
