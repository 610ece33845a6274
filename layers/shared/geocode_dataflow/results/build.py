"""Join a job's result sets onto its input rows: results.csv, results.geojson, the summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from geocode_dataflow.results.flat import RESULT_COLUMNS, flatten
from geocode_dataflow.results.index import ResultIndex
from geocode_dataflow.results.summary import MatchSummary
from geocode_dataflow.results.tables import InputTable
from geocode_dataflow.results.writers import (
    QUALITY_FIELDS,
    CsvResults,
    GeoJsonResults,
    output_names,
)
from geocode_dataflow.schema import GeocodeEntity

CSV_NAME = "results.csv"
GEOJSON_NAME = "results.geojson"
# A result set: (its entities, opened afresh; True for the failed set).
ResultSet = tuple[Callable[[], Iterable[GeocodeEntity]], bool]


@dataclass(frozen=True)
class BuiltResults:
    csv_path: Path
    geojson_path: Path
    summary: MatchSummary
    features: int


def build_results(
    table: InputTable, result_sets: Iterable[ResultSet], out_dir: Path
) -> BuiltResults:
    """Write ``results.csv`` and ``results.geojson`` into ``out_dir`` (constant memory)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = table.columns
    names = output_names(columns, RESULT_COLUMNS)
    by_result = dict(zip(RESULT_COLUMNS, names, strict=True))
    quality_names = [by_result[q] for q in QUALITY_FIELDS]
    position = {c: i for i, c in enumerate(RESULT_COLUMNS)}
    summary = MatchSummary()
    with ExitStack() as stack:
        index = stack.enter_context(ResultIndex(out_dir))
        for entities, failed in result_sets:
            index.add(entities(), failed=failed)
        csv_file: BinaryIO = stack.enter_context((out_dir / CSV_NAME).open("wb"))
        geojson_file: BinaryIO = stack.enter_context((out_dir / GEOJSON_NAME).open("wb"))
        csv_out = CsvResults(csv_file, [*columns, *names])
        geojson_out = GeoJsonResults(geojson_file, columns, quality_names)
        for entity_id, cells in table.rows():
            result = index.get(entity_id) or flatten(None)
            summary.add(result)
            csv_out.write(cells, result)
            quality = {q: result.values[position[q]] for q in QUALITY_FIELDS}
            geojson_out.write(cells, result, quality)
        csv_out.close()
        geojson_out.close()
    return BuiltResults(out_dir / CSV_NAME, out_dir / GEOJSON_NAME, summary, geojson_out.features)
