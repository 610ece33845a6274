"""``EmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread."""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from types import TracebackType

from .app import EmulatorApp
from .config import EmulatorConfig, FaultConfig
from .state import EmulatorState

logger = logging.getLogger(__name__)


class EmulatorServer:
    """Context manager: ``with EmulatorServer(config) as emulator: emulator.base_url ...``.

    ``port=0`` picks a free ephemeral port. ``threads`` is waitress's worker pool: each
    in-flight request holds one, so keep it above the number of concurrent clients you test.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = 24,
        workdir: Path | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.threads = threads
        self.app = EmulatorApp(config, workdir=workdir)
        self._server = None
        self._thread: threading.Thread | None = None

    # -- what tests use ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: also the proxy URL for clients that hard-code the service."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Dataflow endpoint to give a client: ``http://127.0.0.1:PORT/REST/v1/Dataflows``."""
        return f"{self.url}/REST/v1/Dataflows"

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults from now on (running jobs keep their fate)."""
        self.app.set_faults(faults)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        import waitress  # local-only dependency

        self._server = waitress.create_server(
            self.app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident="dataflow-emulator",
            # Bodies above this are refused by waitress itself (413); ours are checked per job.
            max_request_body_size=2 * self.config.max_upload_bytes + (1 << 20),
            channel_timeout=60,
            asyncore_use_poll=True,
            expose_tracebacks=False,
        )
        self.port = self._server.effective_port
        self._thread = threading.Thread(
            target=self._serve, name=f"dataflow-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None  # noqa: S101
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the sockets from stop() can surface here as the loop winds down.
            logger.debug("emulator loop ended", exc_info=True)

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
        self.app.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
