"""``EmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread."""

from __future__ import annotations

from pathlib import Path

from emulator_support.server import BackgroundWsgiServer

from .app import EmulatorApp
from .config import EmulatorConfig, FaultConfig
from .state import EmulatorState


class EmulatorServer(BackgroundWsgiServer):
    """Context manager: ``with EmulatorServer(config) as emulator: emulator.base_url ...``.

    ``url`` (``http://127.0.0.1:PORT``) is also the proxy URL for clients that hard-code the
    service. ``port=0`` picks a free ephemeral port. ``threads`` is waitress's worker pool: each
    in-flight request holds one, so keep it above the number of concurrent clients you test.
    """

    app: EmulatorApp

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
        super().__init__(
            EmulatorApp(config, workdir=workdir),
            host,
            port,
            threads=threads,
            ident="dataflow-emulator",
            # Bodies above this are refused by waitress itself (413); ours are checked per job.
            max_request_body_size=2 * config.max_upload_bytes + (1 << 20),
        )

    @property
    def base_url(self) -> str:
        """The Dataflow endpoint to give a client: ``http://127.0.0.1:PORT/REST/v1/Dataflows``."""
        return f"{self.url}/REST/v1/Dataflows"

    @property
    def control_token(self) -> str:
        """What the ``/emulator/*`` control endpoints want in ``Authorization: Bearer ...``."""
        return self.config.control_token

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults from now on (running jobs keep their fate)."""
        self.app.set_faults(faults)

    def stop(self) -> None:
        super().stop()
        self.app.close()
