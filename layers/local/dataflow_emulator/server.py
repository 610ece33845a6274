"""``EmulatorServer``: the emulator on a real HTTP server (waitress) in a background thread,
and optionally its https proxy (``emulator_support.connect_proxy``) beside it."""

from __future__ import annotations

from pathlib import Path

from emulator_support.connect_proxy import ConnectProxy
from emulator_support.server import BackgroundWsgiServer

from .app import EmulatorApp
from .config import SERVICE_HOSTS, EmulatorConfig, FaultConfig
from .state import EmulatorState


class EmulatorServer(BackgroundWsgiServer):
    """Context manager: ``with EmulatorServer(config) as emulator: emulator.base_url ...``.

    ``url`` (``http://127.0.0.1:PORT``) is also the proxy URL for clients that hard-code the
    service over http. ``port=0`` picks a free ephemeral port. ``threads`` is waitress's worker
    pool: each in-flight request holds one, so keep it above the number of concurrent clients
    you test.

    ``https_proxy_port`` (0 = any free port; None, the default, = no https proxy) also starts
    the https proxy for clients that hard-code ``https://spatial.virtualearth.net``:
    ``https_proxy_url`` is their ``HTTPS_PROXY``, ``ca_cert_pem`` the CA they must trust,
    written to ``ca_cert`` when given.
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
        https_proxy_port: int | None = None,
        ca_cert: Path | None = None,
    ) -> None:
        self.config = config
        # Bodies above this are refused by the server itself (413); ours are checked per job.
        max_body = 2 * config.max_upload_bytes + (1 << 20)
        super().__init__(
            EmulatorApp(config, workdir=workdir),
            host,
            port,
            threads=threads,
            ident="dataflow-emulator",
            max_request_body_size=max_body,
        )
        if ca_cert is not None and https_proxy_port is None:
            raise ValueError("ca_cert is the https proxy's CA: give https_proxy_port too")
        self.ca_cert = ca_cert
        self.https_proxy: ConnectProxy | None = None
        if https_proxy_port is not None:
            self.https_proxy = ConnectProxy(
                self.app,
                SERVICE_HOSTS,
                host=host,
                port=https_proxy_port,
                max_body_bytes=max_body,
                ident="dataflow-emulator",
            )

    @property
    def base_url(self) -> str:
        """The Dataflow endpoint to give a client: ``http://127.0.0.1:PORT/REST/v1/Dataflows``."""
        return f"{self.url}/REST/v1/Dataflows"

    @property
    def https_proxy_url(self) -> str | None:
        """``HTTPS_PROXY`` for clients of ``https://spatial.virtualearth.net``; None when off."""
        return self.https_proxy.url if self.https_proxy is not None else None

    @property
    def ca_cert_pem(self) -> bytes | None:
        """The https proxy's CA certificate (PEM); None when the proxy is off."""
        return self.https_proxy.ca_cert_pem if self.https_proxy is not None else None

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

    def start(self) -> EmulatorServer:
        super().start()
        if self.https_proxy is not None:
            try:
                self.https_proxy.plain_url = self.url
                self.https_proxy.start()
                if self.ca_cert is not None:
                    self.https_proxy.write_ca_cert(self.ca_cert)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        if self.https_proxy is not None:
            self.https_proxy.stop()
        super().stop()
        self.app.close()
