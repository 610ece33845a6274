"""Reading the service's job-resource responses, JSON or XML, whatever the examples got wrong.

Every reader is driven by names, never by position: element and member order vary between
examples (Q11, Q18), link names come as ``name`` or ``output`` (Q12), URLs carry stray spaces
(Q3, Q18), counts can be empty elements (Q10), dates come in two formats (Q4) or as
``xsi:nil`` under a wrong XSI namespace (Q9, Q16). A response that is not well-formed (Q17's
``<DownloadJob>`` closed by ``</DataflowJob>``, Q18's unterminated JSON string) is refused with
``ProtocolError`` rather than guessed at: a half-read job is worse than a clear error.

No answer is trusted to be sane: JSON nested past the interpreter's recursion limit and XML
nested past ``MAX_XML_DEPTH`` are refused (``ResponseTooDeepError``), and XML is read by expat
into a tree of only the few levels the readers use. Every text kept from an answer
has the key scrubbed out (``redact``): what a provider echoes is stored, logged and raised.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from geocode_dataflow.client.model import DataflowJob, ResponseEnvelope
from geocode_dataflow.client.security import redact
from geocode_dataflow.errors import ProtocolError, ResponseTooDeepError

logger = logging.getLogger("geocode_dataflow.client")

_WHITESPACE = re.compile(r"\s+")
_DOTNET_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_TRUE = {"true", "1"}

# A job-resource answer nests 6 deep (Response/ResourceSets/ResourceSet/Resources/job/Link);
# nothing real comes near this.
MAX_XML_DEPTH = 64
KEPT_XML_DEPTH = 6  # the deepest element the XML readers look at (a job's <Link>)


def parse_job_response(body: bytes | str, content_type: str | None = None) -> list[DataflowJob]:
    """The jobs in a job-resource response (create, status, ListJobs, data source download).

    Accepts JSON and XML whatever ``content_type`` says (the body's first character decides);
    an empty body or a missing / empty ``resourceSets`` gives ``[]``. Raises ``ProtocolError``
    for anything that is neither well-formed JSON nor well-formed XML.
    """
    return list(parse_envelope(body, content_type).jobs)


def parse_envelope(
    body: bytes | str, content_type: str | None = None, secrets: Iterable[str | None] = ()
) -> ResponseEnvelope:
    """The whole envelope: status code, trace id, ``errorDetails`` and the jobs.

    Every text in it is ``redact``-ed: ``key=`` values always, and each of ``secrets`` (the
    caller's key) wherever the provider echoed it (an ``ErrorMessage``, a detail, a link).
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    kind = _sniff(body, content_type)
    if kind == "empty":
        return ResponseEnvelope()
    if kind == "json":
        return _scrubbed(_envelope_from_json(body), list(secrets))
    if kind == "xml":
        return _scrubbed(_envelope_from_xml(body), list(secrets))
    raise ProtocolError(
        f"the service answered something that is neither JSON nor XML "
        f"({content_type or 'no content type'}, {len(body)} bytes, starting {_snippet(body)!r})"
    )


def parse_date(value: Any) -> datetime | None:
    """RFC 1123 (``Sat, 17 Feb 2018 22:41:49 GMT``, JSON), ``xs:dateTime`` with up to 7
    fractional digits and an offset (XML), or ``/Date(ms)/``; as aware UTC. Unreadable -> None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    parsed: datetime | None = None
    dotnet = _DOTNET_DATE.match(text)
    if dotnet:
        parsed = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(dotnet.group(1)))
    elif text[:1].isalpha():
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    else:
        try:
            parsed = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text))
        except ValueError:
            parsed = None
    if parsed is None:
        logger.warning("Unreadable date in a Dataflow response: %r", text[:64])
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def clean_url(value: Any) -> str | None:
    """A URL from a response: whitespace removed (Q3, Q18) and any ``key`` parameter dropped."""
    if value is None:
        return None
    url = _WHITESPACE.sub("", str(value))
    if not url:
        return None
    parts = urlsplit(url)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(name, val) for name, val in pairs if name.lower() != "key"]
        if len(kept) != len(pairs):
            url = urlunsplit(parts._replace(query=urlencode(kept)))
    return url


def json_document(body: bytes | str, what: str = "the service's") -> Any:
    """``json.loads`` of an answer, its failures named.

    ``json`` recurses once per level of nesting; an answer nested past the interpreter's
    recursion limit (about 1,000 levels; real answers nest under 10) makes it raise
    ``RecursionError``, which names no provider fault and which no retry policy knows: it is
    ``ResponseTooDeepError`` here. An answer that is not JSON is ``ProtocolError``.
    """
    try:
        return json.loads(body)
    except RecursionError:
        error = ResponseTooDeepError(f"{what} JSON answer is nested too deep to be read")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{what} JSON response is not valid JSON ({exc})") from exc
    raise error  # outside the except block: the RecursionError's traceback is no use to anyone


def _scrubbed(envelope: ResponseEnvelope, secrets: list[str | None]) -> ResponseEnvelope:
    def clean(text: str | None) -> str | None:
        return redact(text, secrets) if text else text

    jobs = tuple(
        replace(
            job,
            id=redact(job.id, secrets),
            status=clean(job.status),
            description=clean(job.description),
            error_message=clean(job.error_message),
            self_url=clean(job.self_url),
            output_urls={name: redact(url, secrets) for name, url in job.output_urls.items()},
            name=clean(job.name),
            resource_type=clean(job.resource_type),
        )
        for job in envelope.jobs
    )
    return replace(
        envelope,
        status_description=clean(envelope.status_description),
        authentication_result_code=clean(envelope.authentication_result_code),
        trace_id=clean(envelope.trace_id),
        error_details=tuple(redact(detail, secrets) for detail in envelope.error_details),
        jobs=jobs,
    )


# --- JSON -------------------------------------------------------------------------------------


def _envelope_from_json(body: bytes) -> ResponseEnvelope:
    document = json_document(body)
    if not isinstance(document, Mapping):
        raise ProtocolError(
            f"the service's JSON response is a {type(document).__name__}, not an object"
        )
    top = _lower_keys(document)
    jobs: list[DataflowJob] = []
    estimated: int | None = None
    for resource_set in _as_list(top.get("resourcesets")):
        if not isinstance(resource_set, Mapping):
            continue
        members = _lower_keys(resource_set)
        estimated = _int(members.get("estimatedtotal"), estimated)
        for resource in _as_list(members.get("resources")):
            job = _job_from_json(resource)
            if job is not None:
                jobs.append(job)
    return ResponseEnvelope(
        status_code=_int(top.get("statuscode")),
        status_description=_text(top.get("statusdescription")),
        authentication_result_code=_text(top.get("authenticationresultcode")),
        trace_id=_text(top.get("traceid")),
        error_details=tuple(_details(top.get("errordetails"))),
        estimated_total=estimated,
        jobs=tuple(jobs),
    )


def _job_from_json(resource: Any) -> DataflowJob | None:
    if not isinstance(resource, Mapping):
        logger.warning("Skipping a resource that is not an object: %s", type(resource).__name__)
        return None
    members = _lower_keys(resource)
    job_id = _text(members.get("id"))
    if not job_id:
        logger.warning("Skipping a resource without an id")
        return None
    self_url: str | None = None
    outputs: dict[str, str] = {}
    for link in _as_list(members.get("links")):
        if not isinstance(link, Mapping):
            continue
        attrs = _lower_keys(link)
        # Q12: the link's set name is under "output" instead of "name" in some examples.
        self_url = _add_link(
            attrs.get("role"),
            attrs.get("name") or attrs.get("output"),
            attrs.get("url"),
            self_url,
            outputs,
        )
    kind = _text(members.get("__type"))
    return DataflowJob(
        id=job_id,
        status=_text(members.get("status")),
        description=_nonempty(members.get("description")),
        created_date=parse_date(members.get("createddate")),
        completed_date=parse_date(members.get("completeddate")),
        total_entity_count=_int(members.get("totalentitycount")),
        processed_entity_count=_int(members.get("processedentitycount")),
        failed_entity_count=_int(members.get("failedentitycount")),
        error_message=_nonempty(members.get("errormessage")),
        self_url=self_url,
        output_urls=outputs,
        name=_text(members.get("name")),
        resource_type=kind.split(":", 1)[0] if kind else None,
    )


# --- XML --------------------------------------------------------------------------------------


class _ShallowTree:
    """An expat target building only the top ``KEPT_XML_DEPTH`` levels (all the readers use),
    and refusing a document nested deeper than ``MAX_XML_DEPTH``: 3 million nested elements
    would otherwise become a tree of most of a GB."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self._depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_XML_DEPTH:
            raise ResponseTooDeepError(
                f"the service's XML answer nests deeper than {MAX_XML_DEPTH} levels; "
                "refusing to parse it"
            )
        if self._depth <= KEPT_XML_DEPTH:
            self._builder.start(tag, attrs)

    def end(self, tag: str) -> None:
        if self._depth <= KEPT_XML_DEPTH:
            self._builder.end(tag)
        self._depth -= 1

    def data(self, text: str) -> None:
        if self._depth <= KEPT_XML_DEPTH:
            self._builder.data(text)

    def close(self) -> Element:
        return self._builder.close()


def _parse_xml(body: bytes) -> Element:
    parser = DefusedXMLParser(target=_ShallowTree(), forbid_dtd=True)
    parser.feed(body)
    root: Element = parser.close()
    return root


def _envelope_from_xml(body: bytes) -> ResponseEnvelope:
    try:
        root = _parse_xml(body)
    except ParseError as exc:
        raise ProtocolError(f"the service's XML response is not well-formed XML ({exc})") from exc
    except DefusedXmlException as exc:
        raise ProtocolError(
            f"the service's XML response uses forbidden XML features ({exc!r})"
        ) from exc
    if _local(root.tag).lower() != "response":
        raise ProtocolError(
            f"the service's XML response has root <{_local(root.tag)}>, expected <Response>"
        )
    top = _children(root)
    jobs: list[DataflowJob] = []
    estimated: int | None = None
    for resource_sets in top.get("resourcesets", []):
        for resource_set in _children(resource_sets).get("resourceset", []):
            members = _children(resource_set)
            estimated = _int(_first_text(members, "estimatedtotal"), estimated)
            for resources in members.get("resources", []):
                for resource in resources:
                    job = _job_from_xml(resource)
                    if job is not None:
                        jobs.append(job)
    details: list[str] = []
    for element in top.get("errordetails", []):
        items = [child for child in element if isinstance(child.tag, str)]
        texts = [child.text for child in items] if items else [element.text]
        details.extend(text.strip() for text in texts if text and text.strip())
    return ResponseEnvelope(
        status_code=_int(_first_text(top, "statuscode")),
        status_description=_text(_first_text(top, "statusdescription")),
        authentication_result_code=_text(_first_text(top, "authenticationresultcode")),
        trace_id=_text(_first_text(top, "traceid")),
        error_details=tuple(details),
        estimated_total=estimated,
        jobs=tuple(jobs),
    )


def _job_from_xml(resource: Element) -> DataflowJob | None:
    if not isinstance(resource.tag, str):
        return None
    members = _children(resource)
    job_id = _text(_first_text(members, "id"))
    if not job_id:
        logger.warning("Skipping a <%s> without an <Id>", _local(resource.tag))
        return None
    self_url: str | None = None
    outputs: dict[str, str] = {}
    for link in members.get("link", []):
        attrs = {_local(name).lower(): value for name, value in link.attrib.items()}
        self_url = _add_link(
            attrs.get("role"),
            attrs.get("name") or attrs.get("output"),
            link.text,
            self_url,
            outputs,
        )
    return DataflowJob(
        id=job_id,
        status=_text(_first_text(members, "status")),
        description=_nonempty(_first_text(members, "description")),
        created_date=parse_date(_first_text(members, "createddate")),
        completed_date=parse_date(_first_text(members, "completeddate")),
        total_entity_count=_int(_first_text(members, "totalentitycount")),
        processed_entity_count=_int(_first_text(members, "processedentitycount")),
        failed_entity_count=_int(_first_text(members, "failedentitycount")),
        error_message=_nonempty(_first_text(members, "errormessage")),
        self_url=self_url,
        output_urls=outputs,
        name=_text(_first_text(members, "name")),
        resource_type=_local(resource.tag),
    )


def _children(element: Element) -> dict[str, list[Element]]:
    """Child elements by lower-case local name: namespace (right or wrong, Q16) and case ignored."""
    found: dict[str, list[Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            found.setdefault(_local(child.tag).lower(), []).append(child)
    return found


def _first_text(children: dict[str, list[Element]], name: str) -> str | None:
    """Text of the first child called ``name``; ``None`` when absent, empty or ``nil``."""
    elements = children.get(name)
    if not elements:
        return None
    element = elements[0]
    for attr, value in element.attrib.items():
        # Matched by local name: Q16's https XSI namespace makes it a different attribute.
        if _local(attr).lower() == "nil" and value.strip().lower() in _TRUE:
            return None
    return element.text


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# --- shared -----------------------------------------------------------------------------------


def _add_link(
    role: Any, name: Any, url: Any, self_url: str | None, outputs: dict[str, str]
) -> str | None:
    """Files one link; returns the (first) self URL seen so far."""
    role_text = (_text(role) or "").lower()
    name_text = (_text(name) or "").lower()
    href = clean_url(url)
    if not href:
        return self_url
    if role_text == "self":
        return self_url or href
    if role_text == "output" or (not role_text and name_text in ("succeeded", "failed")):
        if name_text and name_text not in outputs:
            outputs[name_text] = href
    return self_url


def _sniff(body: bytes, content_type: str | None) -> str:
    head = body.lstrip(b"\xef\xbb\xbf").lstrip()[:1]
    if not head:
        return "empty"
    if head in (b"{", b"["):
        return "json"
    if head == b"<":
        return "xml"
    declared = (content_type or "").lower()
    if "json" in declared:
        return "json"
    if "xml" in declared:
        return "xml"
    return "unknown"


def _snippet(body: bytes) -> str:
    return redact(body[:60].decode("utf-8", "replace"))


def _lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in mapping.items()}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _details(value: Any) -> Iterable[str]:
    for item in _as_list(value):
        if item is not None and str(item).strip():
            yield str(item).strip()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _nonempty(value: Any) -> str | None:
    """Free text kept as sent; only empty means absent."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            logger.warning("Unreadable count in a Dataflow response: %r", text[:32])
            return default
        return int(number) if number.is_integer() else default
