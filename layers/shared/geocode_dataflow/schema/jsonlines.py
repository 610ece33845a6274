"""A lossless JSON form of entities, one per line: how the job engine keeps work in S3.

Every field of the model survives (values stay strings, as read), so an entity written by the
split step and read back by a chunk, then by the assembly, is the entity the file carried.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from geocode_dataflow.schema.model import (
    Address,
    BoundingBox,
    GeocodeEntity,
    GeocodePoint,
    GeocodeRequest,
    GeocodeResponse,
    Point,
    QueryParseValue,
    ReverseGeocodeRequest,
)


def _address(data: dict[str, Any] | None) -> Address | None:
    return Address(**data) if data is not None else None


def _response(data: dict[str, Any]) -> GeocodeResponse:
    return GeocodeResponse(
        name=data.get("name"),
        entity_type=data.get("entity_type"),
        confidence=data.get("confidence"),
        match_codes=data.get("match_codes"),
        address=_address(data.get("address")),
        geocode_points=[GeocodePoint(**p) for p in data.get("geocode_points") or []],
        query_parse_values=[QueryParseValue(**q) for q in data.get("query_parse_values") or []],
        bounding_box=BoundingBox(**data["bounding_box"]) if data.get("bounding_box") else None,
        point=Point(**data["point"]) if data.get("point") else None,
    )


def entity_from_dict(data: dict[str, Any]) -> GeocodeEntity:
    forward = data.get("geocode_request")
    reverse = data.get("reverse_geocode_request")
    if forward is not None:
        forward = GeocodeRequest(**{**forward, "address": _address(forward.get("address"))})
    return GeocodeEntity(
        id=data.get("id"),
        geocode_request=forward,
        reverse_geocode_request=ReverseGeocodeRequest(**reverse) if reverse is not None else None,
        responses=[_response(r) for r in data.get("responses") or []],
        status_code=data.get("status_code"),
        fault_reason=data.get("fault_reason"),
        trace_id=data.get("trace_id"),
        line=data.get("line"),
    )


def dumps(entity: GeocodeEntity) -> str:
    return json.dumps(asdict(entity), separators=(",", ":"), ensure_ascii=False)


def loads(line: str) -> GeocodeEntity:
    return entity_from_dict(json.loads(line))


def encode(entities: Iterable[GeocodeEntity]) -> bytes:
    """UTF-8 JSON lines."""
    return "".join(dumps(e) + "\n" for e in entities).encode("utf-8")


def decode(data: bytes) -> Iterator[GeocodeEntity]:
    for line in data.decode("utf-8").splitlines():
        if line:
            yield loads(line)
