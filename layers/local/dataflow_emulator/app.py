"""The emulator as a WSGI application: routing, authentication, limits, faults, handlers.

Paths and parameter names are matched case-insensitively, the key value case-sensitively, and
unknown parameters are ignored, as the service does. Requests may also arrive in proxy form
(``GET http://spatial.virtualearth.net/REST/v1/... HTTP/1.1``): links in responses then keep
the scheme and host the client used, so it keeps going through the proxy.

The ``/emulator/*`` control endpoints are not part of the service: they answer only requests
bearing the control token (``Authorization: Bearer TOKEN``), with JSON bodies, and no Origin
but a loopback one, so a web page the tester visits cannot turn faults on.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import secrets
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emulator_support.socket_wsgi import SOCKET_KEY
from geocode_dataflow.schema import FORMATS, Issue, Limits, validate_feed
from offline_geocoder import Geocoder

from . import data_location, envelopes, uploads
from .config import EmulatorConfig, FaultConfig
from .data_location import Fetched
from .datasources import DataSource, sample_data_source
from .envelopes import ACCESS_DENIED, JobResource, Link, status_phrase
from .faults import FaultInjector
from .processing import run_job
from .state import (
    ABORTED,
    COMPLETED,
    FATE_ABORT,
    FATE_COMPLETE,
    DownloadJob,
    EmulatorState,
    GeocodeJob,
    JobSnapshot,
    new_id,
)

logger = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
StartResponse = Callable[..., Any]

_MAX_ERROR_DETAILS = 10
DOWNLOAD_ABORTED = (
    "The download was aborted because an error occurred while exporting the data source "
    "(fault injected by the emulator: abort_rate)."
)
_RESULT_TYPES = {
    "xml": "application/xml; charset=utf-8",
    "csv": "text/plain; charset=utf-8",
    "tab": "text/plain; charset=utf-8",
    "pipe": "text/plain; charset=utf-8",
}


class ApiError(Exception):
    """Answered as the service's error envelope."""

    def __init__(self, status: int, *details: str, auth: str = "ValidCredentials") -> None:
        super().__init__(details[0] if details else str(status))
        self.status = status
        self.details = list(details)
        self.auth = auth


@dataclass
class Response:
    status: int
    headers: Headers = field(default_factory=list)
    body: Iterable[bytes] = ()
    drop_connection: bool = False


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    params: dict[str, str]  # lower-cased names -> first value

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        params: dict[str, str] = {}
        for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            params.setdefault(name.lower(), value)
        path = environ.get("PATH_INFO", "") or "/"
        return cls(environ, environ.get("REQUEST_METHOD", "GET").upper(), path, params)

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    @property
    def output(self) -> str:
        """The envelope format asked for with ``output``/``o`` (json when absent or unknown)."""
        value = (self.param("output") or self.param("o") or "json").strip().lower()
        return "xml" if value == "xml" else "json"

    def base_url(self, configured: str | None) -> str:
        """Scheme and host the client addressed (the Host header also covers proxy requests)."""
        if configured:
            return configured
        server = self.environ.get("SERVER_NAME", "localhost")
        host = self.header("Host") or f"{server}:{self.environ.get('SERVER_PORT', '80')}"
        return f"{self.environ.get('wsgi.url_scheme', 'http')}://{host}"


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    handler: str
    args: dict[str, str]


_SEG = r"([^/]+)"
_OUT = r"(?:output|ouput)"  # quirk Q12 spells it "ouput"; both always work
_ROUTE_TABLE = [
    # (path pattern, endpoint name for faults/counters, method, handler, argument names)
    (r"/rest/v1/dataflows/geocode", "create", "POST", "create", ()),
    (rf"/rest/v1/dataflows/geocode/{_SEG}", "status", "GET", "status", ("job_id",)),
    (
        rf"/rest/v1/dataflows/geocode/{_SEG}/{_OUT}/(succeeded|failed)",
        "download",
        "GET",
        "download",
        ("job_id", "which"),
    ),
    (r"/rest/v1/dataflows/listjobs", "list", "GET", "list_jobs", ()),
    (
        rf"/rest/v1/dataflows/(?:datasourcedownload|download)/{_SEG}/{_OUT}/succeeded",
        "datasource_download",
        "GET",
        "datasource_download_by_name",
        ("name",),
    ),
    (
        rf"/rest/v1/dataflows/datasourcedownload/{_SEG}/{_SEG}/{_SEG}/{_OUT}/succeeded",
        "datasource_download",
        "GET",
        "datasource_download_by_job",
        ("access_id", "name", "job_id"),
    ),
    (
        rf"/rest/v1/dataflows/(?:datasourcedownload|download)/{_SEG}/{_OUT}/failed",
        "datasource_download",
        "GET",
        "datasource_error_log",
        ("name",),
    ),
    (
        rf"/rest/v1/(?:dataflows|data)/datasourcedownload/{_SEG}/{_SEG}",
        "datasource_create",
        "GET",
        "datasource_create",
        ("access_id", "name"),
    ),
    (
        rf"/rest/v1/dataflows/(?:datasourcedownload|download)/{_SEG}",
        "datasource_status",
        "GET",
        "datasource_status_by_name",
        ("name",),
    ),
    (
        rf"/rest/v1/dataflows/datasourcedownload/{_SEG}/{_SEG}/{_SEG}",
        "datasource_status",
        "GET",
        "datasource_status_by_job",
        ("access_id", "name", "job_id"),
    ),
]
_ROUTES = [
    (re.compile(pattern + "/?", re.IGNORECASE), endpoint, method, handler, names)
    for pattern, endpoint, method, handler, names in _ROUTE_TABLE
]


def match_route(method: str, path: str) -> Route | str | None:
    """The route for this request; ``"method"`` when the path exists but not for ``method``."""
    wrong_method = False
    for pattern, endpoint, route_method, handler, names in _ROUTES:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if method != route_method:
            wrong_method = True
            continue
        return Route(endpoint, route_method, handler, dict(zip(names, found.groups(), strict=True)))
    return "method" if wrong_method else None


class EmulatorApp:
    """The WSGI callable. One instance = one independent service (jobs, keys, faults)."""

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        workdir: Path | None = None,
        state: EmulatorState | None = None,
    ) -> None:
        self.config = config
        self.state = state or EmulatorState(retention_days=config.retention_days)
        self.faults = FaultInjector(config.faults, config.seed, self.state)
        self.geocoder = Geocoder(min_population=config.min_city_population)
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="dataflow-emulator-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_sources: list[DataSource] = list(config.data_sources or [sample_data_source()])
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataflow-job")
        # Load the place data now, so the first job does not pay for it.
        self._executor.submit(lambda: self.geocoder.gazetteer)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults.replace(faults)

    # -- WSGI --------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = self._respond(request)
        except Exception:  # noqa: BLE001 - a bug must still produce the service's 500 envelope
            logger.exception("unhandled error for %s %s", request.method, request.path)
            response = self._error(request, ApiError(500, "An internal server error occurred."))
        if response.drop_connection and _drop_connection(environ):
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return []
        start_response(f"{response.status} {status_phrase(response.status)}", response.headers)
        return response.body

    def _respond(self, request: Request) -> Response:
        if request.method == "CONNECT":
            # waitress cannot hand a socket over to TLS: https goes to the https proxy's port.
            return _text(
                501,
                "This port does not tunnel https (CONNECT). Send plain http "
                "requests through it (http://spatial.virtualearth.net/...), point "
                "the client's endpoint at the emulator directly, or start the emulator's "
                "https proxy (--ca-cert FILE) and set HTTPS_PROXY to the port it prints.\n",
            )
        if request.path.lower().startswith("/emulator/") or request.path.lower() == "/emulator":
            return self._control(request)
        route = match_route(request.method, request.path)
        if route is None:
            self.state.count_call("unknown")
            return self._error(request, ApiError(404, "The requested resource was not found."))
        if route == "method":
            self.state.count_call("unknown")
            return self._error(
                request,
                ApiError(405, f"The {request.method} method is not allowed for this resource."),
            )
        assert isinstance(route, Route)  # noqa: S101
        self.state.count_call(route.endpoint)
        output = (request.param("output") or request.param("o") or "json").strip().lower()
        if output not in ("json", "xml") and route.endpoint != "download":
            # (Downloads come in the upload's format; clients append output=xml there anyway.)
            return self._error(
                request,
                ApiError(
                    400, f"The output parameter value '{output}' is not valid. Use json or xml."
                ),
            )
        decision = self.faults.for_call(route.endpoint)
        if decision.delay_seconds:
            time.sleep(decision.delay_seconds)
        if decision.reset:
            return Response(500, drop_connection=True)
        if decision.error_status:
            message = (
                "The service is temporarily unavailable. Please try again later."
                if decision.error_status == 503
                else "An internal server error occurred."
            )
            return self._error(request, ApiError(decision.error_status, message))
        try:
            response = getattr(self, route.handler)(request, **route.args)
        except ApiError as error:
            response = self._error(request, error)
        if decision.lose_response:
            response.drop_connection = True
        return response

    # -- shared steps ------------------------------------------------------------------------------

    def _trace(self) -> str:
        return envelopes.trace_id(self.config.node_name)

    def _error(self, request: Request, error: ApiError) -> Response:
        if error.status >= 400:
            self.state.count_rejection(str(error.status))
        body, content_type = envelopes.render(
            request.output,
            error.status,
            trace=self._trace(),
            error_details=error.details,
            auth=error.auth,
            quirks=self.config.quirks,
        )
        return Response(
            error.status,
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
            [body],
        )

    def _envelope(
        self,
        request: Request,
        status: int,
        resources: list[JobResource],
        extra_headers: Headers | None = None,
    ) -> Response:
        body, content_type = envelopes.render(
            request.output,
            status,
            trace=self._trace(),
            resources=resources,
            quirks=self.config.quirks,
        )
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        return Response(status, headers + (extra_headers or []), [body])

    def _authenticate(self, request: Request) -> str:
        key = request.param("key")
        if not key:
            raise ApiError(
                401, ACCESS_DENIED, "The request has no key parameter.", auth="NoCredentials"
            )
        if key not in self.config.keys:
            raise ApiError(
                401,
                ACCESS_DENIED,
                "The key is not a valid Bing Maps Key.",
                auth="InvalidCredentials",
            )
        return key

    def _own_job(self, request: Request, key: str, job_id: str) -> tuple[GeocodeJob, JobSnapshot]:
        job = self.state.get_job(job_id)
        snapshot = self.state.snapshot(job) if job is not None else None
        if job is None or snapshot is None:
            raise ApiError(
                404,
                f"The job {job_id} was not found. Results are kept for "
                f"{self.config.retention_days} days after a job completes.",
            )
        if job.key != key:
            # Status and downloads need the key that created the job (protocol reference §2.2).
            raise ApiError(
                401,
                ACCESS_DENIED,
                "The job was created with a different Bing Maps Key; use that key.",
                auth="NotAuthorized",
            )
        return job, snapshot

    def _links_base(self, request: Request) -> str:
        return request.base_url(self.config.public_base_url) + "/REST/v1/dataflows"

    def _output_segment(self) -> str:
        return "ouput" if "ouput-url" in self.config.quirks else "output"

    def _job_resource(self, request: Request, job: GeocodeJob, snap: JobSnapshot) -> JobResource:
        self_url = f"{self._links_base(request)}/Geocode/{job.id}"
        links = [Link("self", self_url)]
        links += [
            Link("output", f"{self_url}/{self._output_segment()}/{name}", name)
            for name in snap.outputs
        ]
        return JobResource(
            id=job.id,
            status=snap.status,
            links=tuple(links),
            description=job.description,
            created=job.created_at,
            completed=snap.completed_at,
            total=job.total,
            processed=snap.processed,
            failed=snap.failed,
            error_message=snap.error_message,
        )

    # -- geocode dataflow --------------------------------------------------------------------------

    def create(self, request: Request) -> Response:
        key = self._authenticate(request)
        fmt = (request.param("input") or "").strip().lower()
        if not fmt:
            raise ApiError(400, "The input parameter is required: xml, csv, tab or pipe.")
        if fmt not in FORMATS:
            raise ApiError(
                400,
                f"The input parameter value '{request.param('input')}' is not "
                "valid. Use xml, csv, tab or pipe.",
            )
        if self.faults.quota_refusal():
            raise ApiError(
                503,
                f"JobUsageQuota: Account already has {self.config.max_pending_jobs} 'Pending' jobs",
            )
        path, fetched = self._receive_upload(request)
        try:
            total = self._validate_upload(path, fmt, fetched)
            now = self.state.clock.now()
            seconds = self.faults.processing_seconds(self.config.processing_seconds)
            job = GeocodeJob(
                id=new_id(),
                key=key,
                description=request.param("description") or "Geocode",
                input_format=fmt,
                created_at=now,
                deadline=now + timedelta(seconds=seconds),
                total=total,
                upload_path=path,
                fate=self.faults.job_fate(),
            )
            refusal = self.state.add_job(
                job,
                max_pending=self.config.max_pending_jobs,
                max_per_day=self.config.max_jobs_per_day,
            )
            if refusal:
                raise ApiError(503, refusal)
        except BaseException:
            uploads.discard(path)
            raise
        work = functools.partial(
            run_job,
            job,
            self.state,
            self.geocoder,
            workdir=self.workdir,
            quirks=self.config.quirks,
            node=self.config.node_name,
            seed=self.config.seed,
        )
        if job.total <= self.config.inline_max_entities:
            # Small jobs are geocoded before answering (milliseconds), so that with
            # processing_seconds=0 the very first status call already sees Completed.
            work()
        else:
            self._executor.submit(work)
        # The create response shows the job as it was when created, like the service's.
        resource = self._job_resource(request, job, JobSnapshot("Pending", 0, 0, None, ()))
        return self._envelope(request, 201, [resource], [("Location", resource.links[0].url)])

    def _receive_upload(self, request: Request) -> tuple[Path, Fetched | None]:
        """The upload's plain data on disk, and what was fetched when it came from dataLocation."""
        limit = self.config.max_upload_bytes
        raw_cap = 2 * limit + (1 << 16)  # UTF-16 text is up to twice its UTF-8 size
        location = request.param("dataLocation")
        body = (
            uploads.spool_body(request.environ["wsgi.input"], self.workdir, limit=raw_cap)
            if request.method == "POST"
            else None
        )
        fetched = None
        try:
            has_body = body is not None and body.stat().st_size > 0
            if location and has_body:
                raise ApiError(
                    400,
                    "Specify either the dataLocation parameter or data in the "
                    "request body, not both.",
                )
            if not location and not has_body:
                raise ApiError(
                    400,
                    "The request body is empty. Upload the data to geocode in "
                    "the body, or give its URL in dataLocation.",
                )
            if location:
                uploads.discard(body)
                fetched = data_location.fetch(
                    location,
                    self.workdir,
                    allowed=self.config.data_location_hosts,
                    limit=raw_cap,
                )
                body = fetched.path
            assert body is not None  # noqa: S101
            plain = uploads.unpack(
                body,
                self.workdir,
                limit=raw_cap,
                content_encoding=request.header("Content-Encoding"),
            )
            return plain, fetched
        except uploads.UploadError as exc:
            uploads.discard(body)
            # A library's words about fetched bytes may quote them: only ours go back.
            raise ApiError(400, exc.message if fetched else str(exc)) from exc
        except BaseException:
            uploads.discard(body)
            raise

    def _validate_upload(self, path: Path, fmt: str, fetched: Fetched | None) -> int:
        report = validate_feed(
            path,
            fmt=fmt,
            limits=Limits(
                max_entities=self.config.max_entities, max_bytes=self.config.max_upload_bytes
            ),
        )
        if not report.valid:
            issues = report.errors[:_MAX_ERROR_DETAILS]
            schema = f"valid Geocode Dataflow data (Data Schema 2.0 or 1.0, {fmt})"
            if fetched is None:
                details = [f"The uploaded data is not {schema}."]
                details += [
                    f"{issue.message} ({issue.where()})" if issue.where() else issue.message
                    for issue in issues
                ]
            else:
                # The issues' messages quote the data, which the client may have no right to read.
                details = [
                    f"The data fetched from dataLocation ({fetched.describe()}) is not {schema}.",
                    "Its content is not quoted back: upload it in the request body to see each "
                    "problem in full.",
                ]
                details += [_without_content(issue) for issue in issues]
            if report.error_count > len(issues):
                details.append(f"... and {report.error_count - len(issues)} more problems.")
            raise ApiError(400, *details)
        return report.entity_count

    def status(self, request: Request, job_id: str) -> Response:
        key = self._authenticate(request)
        job, snap = self._own_job(request, key, job_id)
        return self._envelope(request, 200, [self._job_resource(request, job, snap)])

    def download(self, request: Request, job_id: str, which: str) -> Response:
        key = self._authenticate(request)
        job, snap = self._own_job(request, key, job_id)
        which = which.lower()
        path = job.result_paths.get(which)
        if snap.status != COMPLETED or which not in snap.outputs or path is None:
            raise ApiError(
                404,
                f"The job {job.id} has no {which} data to download"
                + (" yet." if snap.status != COMPLETED else "."),
            )
        size = path.stat().st_size
        headers = [
            ("Content-Type", _RESULT_TYPES.get(job.output_format or "", "text/plain")),
            ("Content-Length", str(size)),
        ]
        return Response(200, headers, _file_chunks(request.environ, path))

    def list_jobs(self, request: Request) -> Response:
        self._authenticate(request)  # any key of the account lists all of its jobs
        resources = [
            self._job_resource(request, job, snap)
            for job, snap in self.state.recent_jobs(self.config.list_days)
        ]
        return self._envelope(request, 200, resources)

    # -- data source download ----------------------------------------------------------------------

    def _data_source(self, access_id: str | None, name: str) -> DataSource:
        for source in self.data_sources:
            if source.name.casefold() == name.casefold() and (
                access_id is None or source.access_id.casefold() == access_id.casefold()
            ):
                return source
        raise ApiError(
            404,
            f"The data source {name} does not exist"
            + (f" for access id {access_id}." if access_id else "."),
        )

    def _master_key(self, request: Request, source: DataSource) -> str:
        key = self._authenticate(request)
        if source.master_key is not None and key != source.master_key:
            raise ApiError(
                401,
                ACCESS_DENIED,
                "The specified key is not the master key for the data source.",
                auth="NotAuthorized",
            )
        return key

    def _download_resource(self, request: Request, job: DownloadJob) -> JobResource:
        now = self.state.clock.now()
        done = now >= job.deadline
        self_url = f"{self._links_base(request)}/DataSourceDownload/{job.data_source.name}"
        links = [Link("self", self_url)]
        aborted = done and job.fate == FATE_ABORT
        if done:
            # An aborted download links its error log as "failed" (S-dl-resp).
            which = "failed" if aborted else "succeeded"
            links.append(Link("output", f"{self_url}/{self._output_segment()}/{which}", which))
        return JobResource(
            id=job.id,
            status=(ABORTED if aborted else COMPLETED) if done else "Pending",
            links=tuple(links),
            created=job.created_at,
            completed=job.deadline if done else None,
            total=len(job.data_source.rows) if done and not aborted else 0,
            processed=0,
            failed=0,
            error_message=(job.data_source.abort_message or DOWNLOAD_ABORTED) if aborted else None,
        )

    def datasource_create(self, request: Request, access_id: str, name: str) -> Response:
        source = self._data_source(access_id, name)
        key = self._master_key(request, source)
        version = request.param("jobId")
        if version and version.lower() not in (v.lower() for v in source.versions):
            raise ApiError(404, f"The data source {name} has no version {version}.")
        now = self.state.clock.now()
        seconds = self.faults.processing_seconds(self.config.processing_seconds)
        # abort_rate applies to downloads as to geocode jobs (the other fates do not).
        # A data source set to abort does; abort_rate applies to downloads as to geocode jobs
        # (the other fates do not).
        injected = self.faults.job_fate() == FATE_ABORT
        fate = FATE_ABORT if source.abort_message or injected else FATE_COMPLETE
        job = DownloadJob(new_id(), key, source, now, now + timedelta(seconds=seconds), fate)
        self.state.add_download_job(job)
        resource = self._download_resource(request, job)
        return self._envelope(request, 201, [resource], [("Location", resource.links[0].url)])

    def _download_job(
        self, request: Request, name: str, job_id: str | None = None, access_id: str | None = None
    ) -> DownloadJob:
        source = self._data_source(access_id, name)
        key = self._master_key(request, source)
        job = self.state.download_job(
            job_id=job_id, name=None if job_id else name, key=None if job_id else key
        )
        if job is None or job.data_source is not source:
            raise ApiError(404, f"There is no download job for the data source {name}.")
        if job.key != key:
            raise ApiError(
                401,
                ACCESS_DENIED,
                "The download job was created with a different key; use that key.",
                auth="NotAuthorized",
            )
        return job

    def datasource_status_by_name(self, request: Request, name: str) -> Response:
        job = self._download_job(request, name)
        return self._envelope(request, 200, [self._download_resource(request, job)])

    def datasource_status_by_job(
        self, request: Request, access_id: str, name: str, job_id: str
    ) -> Response:
        job = self._download_job(request, name, job_id, access_id)
        return self._envelope(request, 200, [self._download_resource(request, job)])

    def _export(self, request: Request, job: DownloadJob) -> Response:
        if self.state.clock.now() < job.deadline:
            raise ApiError(404, "The download job has not completed yet.")
        if job.fate == FATE_ABORT:
            raise ApiError(404, "The download job was aborted; its error log is its failed link.")
        chunks = list(
            job.data_source.export_chunks(
                wrong_xs_namespace="wrong-xsi-namespace" in self.config.quirks
            )
        )
        size = sum(len(c) for c in chunks)
        return Response(
            200,
            [("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", str(size))],
            chunks,
        )

    def datasource_error_log(self, request: Request, name: str) -> Response:
        job = self._download_job(request, name)
        if self.state.clock.now() < job.deadline or job.fate != FATE_ABORT:
            raise ApiError(404, f"The download job of {name} has no error log.")
        body = (
            job.data_source.error_log
            or (
                f"Data source: {job.data_source.name}\r\nJob: {job.id}\r\nError: {DOWNLOAD_ABORTED}\r\n"
            ).encode()
        )
        return Response(
            200,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            [body],
        )

    def datasource_download_by_name(self, request: Request, name: str) -> Response:
        return self._export(request, self._download_job(request, name))

    def datasource_download_by_job(
        self, request: Request, access_id: str, name: str, job_id: str
    ) -> Response:
        return self._export(request, self._download_job(request, name, job_id, access_id))

    # -- control endpoints (not part of the service) -----------------------------------------------

    def _control(self, request: Request) -> Response:
        refusal = self._control_refusal(request)
        if refusal is not None:
            return refusal
        path = request.path.lower().rstrip("/")
        try:
            if path == "/emulator/state" and request.method == "GET":
                return _json(200, self.state.to_dict())
            if path == "/emulator/faults" and request.method == "GET":
                return _json(200, self.faults.faults.to_dict())
            if path == "/emulator/faults" and request.method in ("POST", "PUT"):
                faults = FaultConfig.from_dict(_read_json(request))
                self.set_faults(faults)
                return _json(200, faults.to_dict())
            if path == "/emulator/clock" and request.method == "POST":
                seconds = float(_read_json(request).get("advance_seconds", 0))
                return _json(200, {"now": self.state.clock.advance(seconds).isoformat()})
            if path == "/emulator/health" and request.method == "GET":
                return _json(
                    200,
                    {
                        "ok": True,
                        "data_sources": [
                            {"name": s.name, "access_id": s.access_id} for s in self.data_sources
                        ],
                    },
                )
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(
            404,
            {
                "error": "unknown control endpoint; see /emulator/state, "
                "/emulator/faults, /emulator/clock, /emulator/health"
            },
        )

    def _control_refusal(self, request: Request) -> Response | None:
        """Why a control request is refused, or None. A web page cannot know the token, cannot
        send a JSON body across origins without a CORS preflight (never granted here), and its
        requests carry an Origin header."""
        origin = request.header("Origin")
        if origin is not None and not _loopback_origin(origin):
            return _json(403, {"error": "control requests from a web page are refused"})
        if not _bearer_is(request.header("Authorization"), self.config.control_token):
            return _json(
                401,
                {
                    "error": "control requests need Authorization: Bearer TOKEN, the control "
                    "token the emulator printed when it started"
                },
                [("WWW-Authenticate", 'Bearer realm="emulator-control"')],
            )
        media_type = (request.environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if request.method in ("POST", "PUT") and media_type != "application/json":
            return _json(415, {"error": "control request bodies must be application/json"})
        return None


# -- helpers ---------------------------------------------------------------------------------------


def _text(status: int, text: str, headers: Headers | None = None) -> Response:
    body = text.encode("utf-8")
    return Response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        + (headers or []),
        [body],
    )


def _json(status: int, document: dict[str, Any], headers: Headers | None = None) -> Response:
    body = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
    return Response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        + (headers or []),
        [body],
    )


def _without_content(issue: Issue) -> str:
    """An issue as its code and position only (its message and entity id quote the data)."""
    where = ", ".join(
        f"{name} {value}"
        for name, value in (("line", issue.line), ("column", issue.column), ("byte", issue.offset))
        if value is not None
    )
    return f"{issue.code} ({where})" if where else issue.code


def _loopback_origin(origin: str) -> bool:
    try:
        host = urlsplit(origin.strip()).hostname
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer_is(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )


def _read_json(request: Request) -> dict[str, Any]:
    raw = request.environ["wsgi.input"].read() or b"{}"
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    return document


def _file_chunks(environ: dict[str, Any], path: Path) -> Iterable[bytes]:
    handle = path.open("rb")
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(handle, 1 << 16)
    return iter(lambda: handle.read(1 << 16), b"")


def _drop_connection(environ: dict[str, Any]) -> bool:
    """Close the client's connection without an answer, so it sees a connection error.

    WSGI gives no access to the socket; waitress's ``waitress.client_disconnected`` callable is
    a method of the channel that owns it, and the https proxy puts its socket in the environ.
    Lingering off makes the close a TCP reset. Returns False when neither gives a socket (the
    caller then answers a plain 500).
    """
    sock = environ.get(SOCKET_KEY)  # the https proxy's connections
    if sock is None:
        probe = environ.get("waitress.client_disconnected")
        sock = getattr(getattr(probe, "__self__", None), "socket", None)
    if sock is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True
