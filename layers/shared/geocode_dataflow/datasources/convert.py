"""A data source download -> ``entities.csv``, ``entities.geojson`` and ``schema.json``, streamed.

One pass over the XML (``reader``), one entity in memory at a time: the CSV gets a row per
entity with the schema's columns in order, typed (``model.typed_value``); the GeoJSON an RFC
7946 Feature per entity, its point from the geography column when the schema has one, else
from Latitude / Longitude (an entity without usable coordinates has a null geometry, so every
entity is there), every other column a property.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from geocode_dataflow.datasources.model import (
    DataSourceFormatError,
    DataSourceSchema,
    csv_text,
    typed_value,
)
from geocode_dataflow.datasources.reader import DataSourceLimits, DataSourceReader

ENTITIES_CSV = "entities.csv"
ENTITIES_GEOJSON = "entities.geojson"
SCHEMA_JSON = "schema.json"
_WKT = re.compile(r"\s*(POINT|LINESTRING|POLYGON|MULTIPOINT)\s*(\(.*\))\s*", re.IGNORECASE | re.S)
_PAIR = re.compile(r"\s*([^\s,()]+)\s+([^\s,()]+)(?:\s+[^\s,()]+)*\s*")


@dataclass(frozen=True)
class Conversion:
    schema: DataSourceSchema
    entities: int
    located: int  # entities with a geometry

    def schema_document(self) -> dict[str, Any]:
        return self.schema.to_document(entities=self.entities, located=self.located)


def convert_to_folder(
    source: BinaryIO, folder: Path, limits: DataSourceLimits | None = None
) -> Conversion:
    """Write the three files into ``folder``; returns what was read."""
    with (
        open(folder / ENTITIES_CSV, "w", encoding="utf-8-sig", newline="") as table,
        open(folder / ENTITIES_GEOJSON, "w", encoding="utf-8") as features,
    ):
        result = convert(source, table, features, limits)
    document = json.dumps(result.schema_document(), indent=2, ensure_ascii=False)
    (folder / SCHEMA_JSON).write_text(document + "\n", encoding="utf-8")
    return result


def convert(
    source: BinaryIO,
    table: IO[str],
    features: IO[str],
    limits: DataSourceLimits | None = None,
) -> Conversion:
    reader = DataSourceReader(source, limits)
    writer: csv.Writer | None = None
    entities = located = 0
    features.write('{"type": "FeatureCollection", "features": [')
    for line, row in reader:
        schema = reader.schema
        assert schema is not None  # noqa: S101 - set before the first entity
        if writer is None:
            writer = _header(table, schema)
        values = [typed_value(c, row.get(c.name), line) for c in schema.columns]
        writer.writerow([csv_text(v) for v in values])
        feature = _feature(schema, values, line)
        located += feature["geometry"] is not None
        features.write(("\n" if entities == 0 else ",\n") + json.dumps(feature, ensure_ascii=False))
        entities += 1
    features.write("\n]}\n")
    assert reader.schema is not None  # noqa: S101 - the reader raises otherwise
    if writer is None:
        _header(table, reader.schema)
    return Conversion(reader.schema, entities, located)


def _header(table: IO[str], schema: DataSourceSchema) -> csv.Writer:
    writer = csv.writer(table)
    writer.writerow([c.name for c in schema.columns])
    return writer


def _feature(schema: DataSourceSchema, values: list[Any], line: int) -> dict[str, Any]:
    by_name = {c.name: v for c, v in zip(schema.columns, values, strict=True)}
    geometry: dict[str, Any] | None
    spatial: tuple[str, ...]
    if schema.geography is not None:
        spatial = (schema.geography.name,)
        text = by_name[schema.geography.name]
        geometry = _wkt_geometry(text, line) if text else None
    else:
        lat, lon = schema.latitude, schema.longitude
        spatial = (lat.name, lon.name) if lat and lon else ()
        geometry = _point(by_name[lat.name], by_name[lon.name]) if lat and lon else None
    properties = {k: _json_value(v) for k, v in by_name.items() if k not in spatial}
    feature: dict[str, Any] = {"type": "Feature"}
    if len(schema.primary_key) == 1 and by_name.get(schema.primary_key[0]) is not None:
        feature["id"] = by_name[schema.primary_key[0]]
    feature.update(geometry=geometry, properties=properties)
    return feature


def _point(latitude: Any, longitude: Any) -> dict[str, Any] | None:
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (latitude, longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return {"type": "Point", "coordinates": [longitude, latitude]}


def _json_value(value: Any) -> Any:
    """JSON has no NaN or infinity: such a double is a null property."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _wkt_geometry(text: str, line: int) -> dict[str, Any]:
    """A geography value (well-known text, longitude first as WKT writes it) as GeoJSON."""
    found = _WKT.fullmatch(text)
    if found is None:
        raise DataSourceFormatError(
            "bad-geography", f"{text[:80]!r} is not a WKT point, line or polygon", line=line
        )
    kind, body = found.group(1).upper(), found.group(2)
    try:
        if kind == "POINT":
            return {"type": "Point", "coordinates": _positions(body[1:-1], line)[0]}
        if kind == "LINESTRING":
            return {"type": "LineString", "coordinates": _positions(body[1:-1], line)}
        if kind == "MULTIPOINT":
            flat = body[1:-1].replace("(", "").replace(")", "")
            return {"type": "MultiPoint", "coordinates": _positions(flat, line)}
        rings = [_positions(ring, line) for ring in _rings(body[1:-1])]
        return {"type": "Polygon", "coordinates": rings}
    except IndexError:
        raise DataSourceFormatError(
            "bad-geography", f"{text[:80]!r} has no coordinates", line=line
        ) from None


def _rings(body: str) -> Iterator[str]:
    for part in body.split(")"):
        ring = part.strip().lstrip(",").strip()
        if ring:
            yield ring.lstrip("(")


def _positions(body: str, line: int) -> list[list[float]]:
    positions = []
    for pair in body.split(","):
        found = _PAIR.fullmatch(pair)
        try:
            if found is None:
                raise ValueError(pair)
            lon, lat = float(found.group(1)), float(found.group(2))
        except ValueError:
            raise DataSourceFormatError(
                "bad-geography", f"{pair.strip()[:40]!r} is not a WKT position", line=line
            ) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise DataSourceFormatError(
                "bad-geography", f"position {pair.strip()[:40]!r} is out of range", line=line
            )
        positions.append([lon, lat])
    return positions
