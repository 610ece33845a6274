"""``results.csv`` and ``results.geojson``, written row by row to binary files."""

from __future__ import annotations

import csv
import io
import json
from typing import BinaryIO

from geocode_dataflow.results.flat import PROVIDER_TEXT, RESULT_COLUMNS, MatchResult, neutralise

_NEUTRALISED = tuple(c in PROVIDER_TEXT for c in RESULT_COLUMNS)

# The GeoJSON properties beside the input columns: the quality of each match.
QUALITY_FIELDS = (
    "match_status",
    "confidence",
    "entity_type",
    "match_codes",
    "calculation_method",
    "formatted_address",
)


def output_names(input_columns: list[str], result_columns: tuple[str, ...]) -> list[str]:
    """Result column names, each suffixed ``_result`` where an input column has its name."""
    taken = {c.casefold() for c in input_columns}
    return [f"{c}_result" if c.casefold() in taken else c for c in result_columns]


class CsvResults:
    """UTF-8 with a BOM (Excel then reads it as UTF-8; pandas and csv readers skip it), CRLF
    line ends and minimal quoting (RFC 4180), one header line, no version line. The provider's
    text that looks like a formula is neutralised (``flat.neutralise``); input cells are not."""

    def __init__(self, sink: BinaryIO, header: list[str]) -> None:
        self._text = io.TextIOWrapper(sink, encoding="utf-8-sig", newline="", write_through=False)
        self._writer = csv.writer(self._text, lineterminator="\r\n")
        self._writer.writerow(header)

    def write(self, cells: list[str], result: MatchResult) -> None:
        values = (
            neutralise(v) if guard and v else v
            for v, guard in zip(result.values, _NEUTRALISED, strict=True)
        )
        self._writer.writerow([*cells, *values])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class GeoJsonResults:
    """An RFC 7946 FeatureCollection of the matched rows: [longitude, latitude] points (WGS 84),
    properties = the input columns and the quality fields."""

    def __init__(self, sink: BinaryIO, input_columns: list[str], quality_names: list[str]) -> None:
        self._sink = sink
        self._columns = input_columns
        self._quality = quality_names
        self._first = True
        self.features = 0
        sink.write(b'{"type":"FeatureCollection","features":[\n')

    def write(self, cells: list[str], result: MatchResult, quality: dict[str, str]) -> None:
        if result.latitude is None or result.longitude is None:
            return
        properties = dict(zip(self._columns, cells, strict=True))
        properties.update(zip(self._quality, (quality[q] for q in QUALITY_FIELDS), strict=True))
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [result.longitude, result.latitude]},
            "properties": properties,
        }
        self._sink.write(b"" if self._first else b",\n")
        self._sink.write(json.dumps(feature, ensure_ascii=False).encode("utf-8"))
        self._first = False
        self.features += 1

    def close(self) -> None:
        self._sink.write(b"\n]}\n")
