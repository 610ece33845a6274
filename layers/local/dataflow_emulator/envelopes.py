"""The service's response envelope and DataflowJob resource, in JSON and in XML.

JSON mimics .NET DataContract serialisation as captured from the real service: members in
alphabetical order (base type first), null members omitted, ``/`` escaped as ``\\/``, dates in
RFC 1123 GMT. XML mimics its XmlSerializer twin: fixed element order, ``xsi:nil`` for a missing
date, ``xs:dateTime`` with seven fractional digits and an offset.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http import HTTPStatus
from xml.sax.saxutils import escape, quoteattr

REST_NAMESPACE = "http://schemas.microsoft.com/search/local/ws/rest/v1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
WRONG_XSI = "https://www.w3.org/2001/XMLSchema-instance"  # quirk Q16
WRONG_XSD = "https://www.w3.org/2001/XMLSchema"
BRAND_LOGO_URI = "http://spatial.virtualearth.net/Branding/logo_powered_by.png"
# Not Microsoft's text: this is a local test double, and GeoNames data needs attribution.
COPYRIGHT = (
    "Geocode Dataflow emulator: a local test double of the Bing Maps Spatial Data Services, "
    "not a Microsoft service. Place data: GeoNames (CC BY 4.0) and US ZIP code centroids."
)
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
SERVICE_VERSION = "7.7.0.0"

ACCESS_DENIED = (
    "Access was denied. You may have entered your credentials incorrectly, or you might not have "
    "access to the requested resource or operation."
)


@dataclass(frozen=True)
class Link:
    role: str
    url: str
    name: str | None = None


@dataclass(frozen=True)
class JobResource:
    """One job as a response shows it (all members optional except id and status)."""

    id: str
    status: str
    links: tuple[Link, ...] = ()
    resource_type: str = "DataflowJob"
    name: str | None = None
    description: str | None = None
    created: datetime | None = None
    completed: datetime | None = None
    total: int | None = None
    processed: int | None = None
    failed: int | None = None
    error_message: str | None = None


def trace_id(node: str) -> str:
    """A response's TraceId: 32 hex digits then the front-end node and service version,
    pipe-separated (entities have their own form: ``shaping.entity_trace_id``)."""
    return f"{uuid.uuid4().hex}|{node}|{SERVICE_VERSION}|"


def json_date(value: datetime) -> str:
    return format_datetime(value.replace(microsecond=0), usegmt=True)


def xml_date(value: datetime) -> str:
    """``2010-05-10T13:22:35.0553408-07:00``: local time, seven fractional digits, offset."""
    local = value.astimezone()
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0{offset[:3]}:{offset[3:]}"


def _dumps(document: dict) -> bytes:
    # DataContractJsonSerializer escapes every solidus; JSON allows it and real captures show it.
    return (
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        .replace("/", "\\/")
        .encode("utf-8")
    )


def status_phrase(status: int) -> str:
    """``OK``, ``Created``, ``Service Unavailable``...: the StatusDescription of a code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# -- JSON ------------------------------------------------------------------------------------------


def _json_link(link: Link, quirks: set[str]) -> dict:
    if link.name is None:
        return {"role": link.role, "url": link.url}
    if "output-link-key" in quirks and link.role == "output":
        return {"role": link.role, "output": link.name, "url": link.url}
    return {"name": link.name, "role": link.role, "url": link.url}


def _json_resource(job: JobResource, quirks: set[str]) -> dict:
    nil_completed = "nil-completed-date" in quirks
    members: list[tuple[str, object]] = [
        ("__type", f"{job.resource_type}:{REST_NAMESPACE}"),
        ("id", job.id),
        ("links", [_json_link(link, quirks) for link in job.links] or None),
        ("name", job.name),
        (
            "completedDate",
            None if job.completed is None or nil_completed else json_date(job.completed),
        ),
        ("createdDate", json_date(job.created) if job.created else None),
        ("description", job.description),
        ("errorMessage", job.error_message),
        ("failedEntityCount", job.failed),
        ("processedEntityCount", job.processed),
        ("status", job.status),
        ("totalEntityCount", job.total),
    ]
    return {key: value for key, value in members if value is not None}


def render_json(
    status: int,
    *,
    trace: str,
    resources: Iterable[JobResource] | None = None,
    error_details: list[str] | None = None,
    auth: str = "ValidCredentials",
    quirks: set[str] = frozenset(),
) -> bytes:
    resource_list = list(resources or [])
    document: dict[str, object] = {
        "authenticationResultCode": auth,
        "brandLogoUri": BRAND_LOGO_URI,
        "copyright": COPYRIGHT,
    }
    if error_details:
        document["errorDetails"] = list(error_details)
    document["resourceSets"] = (
        [
            {
                "estimatedTotal": len(resource_list),
                "resources": [_json_resource(r, quirks) for r in resource_list],
            }
        ]
        if resources is not None
        else []
    )
    document["statusCode"] = status
    document["statusDescription"] = status_phrase(status)
    document["traceId"] = trace
    return _dumps(document)


# -- XML -------------------------------------------------------------------------------------------


def _xml_link(link: Link, quirks: set[str]) -> str:
    attrs = f"role={quoteattr(link.role)}"
    if link.name is not None:
        attrs += f" name={quoteattr(link.name)}"  # role first: clients read attributes by position
    return f"<Link {attrs}>{escape(link.url)}</Link>"


def _xml_count(tag: str, value: int | None, empty: bool = False) -> str:
    if value is None:
        return ""
    if empty:
        return f"<{tag}></{tag}>"
    return f"<{tag}>{value}</{tag}>"


def _xml_resource(job: JobResource, quirks: set[str], indent: str) -> list[str]:
    rtype = job.resource_type
    inner = indent + "  "
    lines = [f"{indent}<{rtype}>"]
    if job.name is not None:
        lines.append(f"{inner}<Name>{escape(job.name)}</Name>")
    lines.append(f"{inner}<Id>{escape(job.id)}</Id>")
    status_line = f"{inner}<Status>{escape(job.status)}</Status>"
    self_links = [link for link in job.links if link.role == "self"]
    other_links = [link for link in job.links if link.role != "self"]
    if "element-order" in quirks:
        lines += [inner + _xml_link(link, quirks) for link in self_links]
        lines.append(status_line)
        lines += [inner + _xml_link(link, quirks) for link in other_links]
        if job.description is not None:
            lines.append(f"{inner}<Description>{escape(job.description)}</Description>")
    else:
        lines += [inner + _xml_link(link, quirks) for link in job.links]
        if job.description is not None:
            lines.append(f"{inner}<Description>{escape(job.description)}</Description>")
        lines.append(status_line)
    if job.created is not None:
        lines.append(f"{inner}<CreatedDate>{xml_date(job.created)}</CreatedDate>")
    if job.completed is None or "nil-completed-date" in quirks:
        lines.append(f'{inner}<CompletedDate xsi:nil="true" />')
    else:
        lines.append(f"{inner}<CompletedDate>{xml_date(job.completed)}</CompletedDate>")
    empty = "empty-counts" in quirks
    for tag, value, blank in (
        ("TotalEntityCount", job.total, False),
        ("ProcessedEntityCount", job.processed, empty),
        ("FailedEntityCount", job.failed, False),
    ):
        line = _xml_count(tag, value, blank)
        if line:
            lines.append(inner + line)
    if job.error_message is not None:
        lines.append(f"{inner}<ErrorMessage>{escape(job.error_message)}</ErrorMessage>")
    lines.append(f"{indent}</{rtype}>")
    return lines


def render_xml(
    status: int,
    *,
    trace: str,
    resources: Iterable[JobResource] | None = None,
    error_details: list[str] | None = None,
    auth: str = "ValidCredentials",
    quirks: set[str] = frozenset(),
) -> bytes:
    xsi, xsd = (WRONG_XSI, WRONG_XSD) if "wrong-xsi-namespace" in quirks else (XSI, XSD)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Response xmlns:xsi="{xsi}" xmlns:xsd="{xsd}" xmlns="{REST_NAMESPACE}">',
        f"  <Copyright>{escape(COPYRIGHT)}</Copyright>",
        f"  <BrandLogoUri>{escape(BRAND_LOGO_URI)}</BrandLogoUri>",
        f"  <StatusCode>{status}</StatusCode>",
        f"  <StatusDescription>{escape(status_phrase(status))}</StatusDescription>",
        f"  <AuthenticationResultCode>{escape(auth)}</AuthenticationResultCode>",
    ]
    if error_details:
        lines.append("  <ErrorDetails>")
        lines += [f"    <string>{escape(detail)}</string>" for detail in error_details]
        lines.append("  </ErrorDetails>")
    lines.append(f"  <TraceId>{escape(trace)}</TraceId>")
    if resources is None:
        lines.append("  <ResourceSets />")
    else:
        resource_list = list(resources)
        lines += [
            "  <ResourceSets>",
            "    <ResourceSet>",
            f"      <EstimatedTotal>{len(resource_list)}</EstimatedTotal>",
            "      <Resources>",
        ]
        for resource in resource_list:
            lines += _xml_resource(resource, quirks, "        ")
        lines += ["      </Resources>", "    </ResourceSet>", "  </ResourceSets>"]
    lines.append("</Response>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def render(fmt: str, status: int, **kwargs) -> tuple[bytes, str]:
    """The body and Content-Type of an envelope in ``fmt`` ("json" or "xml")."""
    if fmt == "xml":
        return render_xml(status, **kwargs), XML_TYPE
    return render_json(status, **kwargs), JSON_TYPE
