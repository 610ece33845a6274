"""A WSGI app on a real HTTP server (waitress) in a background thread.

``BackgroundWsgiServer`` is the lifecycle every emulator shares; ``JsonEmulatorServer`` adds what
the servers of a ``JsonEmulatorApp`` (Amazon Location, Azure Maps) have in common.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from .wsgi import JsonEmulatorApp

ConfigT = TypeVar("ConfigT")
AppT = TypeVar("AppT", bound=JsonEmulatorApp)


class BackgroundWsgiServer:
    """Start/stop and context manager for one emulator; subclasses build the app and name it.

    ``port=0`` picks a free ephemeral port (``port`` holds the real one after ``start()``).
    ``threads`` is waitress's worker pool: each in-flight request holds one, so keep it above
    the number of concurrent clients you test. ``ident`` names the server and its thread.
    """

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        *,
        threads: int,
        ident: str,
        max_request_body_size: int,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self.ident = ident
        self.max_request_body_size = max_request_body_size
        self._server: Any = None
        self._thread: threading.Thread | None = None
        # The subclass's module, so each emulator's records keep its own logger name.
        self._logger = logging.getLogger(type(self).__module__)

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, with an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        import waitress  # local-only dependency

        self._server = waitress.create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident=self.ident,
            # Bodies above this are refused by waitress itself (413).
            max_request_body_size=self.max_request_body_size,
            channel_timeout=60,
            asyncore_use_poll=True,
            expose_tracebacks=False,
        )
        self.port = self._server.effective_port
        self._thread = threading.Thread(
            target=_serve,
            args=(self._server, self._logger),
            name=f"{self.ident}:{self.port}",
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class JsonEmulatorServer(BackgroundWsgiServer, Generic[ConfigT, AppT]):
    """The server of one ``JsonEmulatorApp``: built from a config (the default one when None),
    with the faults and rate limit tests turn, and the place data loaded in ``start()``.

    Subclasses name ``CONFIG_TYPE``, ``APP_TYPE`` (built as ``APP_TYPE(config)``) and ``IDENT``;
    the config's ``max_body_bytes`` is the largest body waitress accepts. ``preload`` loads the
    place data in ``start()`` (a few seconds, once per process), so the first request is as fast
    as the others.
    """

    CONFIG_TYPE: ClassVar[type[Any]]
    APP_TYPE: ClassVar[type[JsonEmulatorApp]]
    IDENT: ClassVar[str]
    config: ConfigT
    app: AppT

    def __init__(
        self,
        config: ConfigT | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = 32,
        preload: bool = True,
    ) -> None:
        self.config = config or self.CONFIG_TYPE()
        self.preload = preload
        super().__init__(
            self.APP_TYPE(self.config),
            host,
            port,
            threads=threads,
            ident=self.IDENT,
            max_request_body_size=self.config.max_body_bytes,
        )

    def set_faults(self, faults: Any) -> None:
        """Replace the injected faults from now on."""
        self.app.set_faults(faults)

    def set_rate_limit(self, rate_limit: float | None) -> None:
        """Requests per sliding second from now on; 0 or None = unlimited."""
        self.app.set_rate_limit(rate_limit)

    def start(self) -> Self:
        if self.preload:
            _ = self.app.geocoder.gazetteer
        return super().start()


def _serve(server: Any, logger: logging.Logger) -> None:
    # The server is passed in, not read from the instance: stop() may already have cleared it.
    try:
        server.run()
    except (OSError, ValueError):
        # Closing the sockets from stop() can surface here as the loop winds down.
        logger.debug("emulator loop ended", exc_info=True)
