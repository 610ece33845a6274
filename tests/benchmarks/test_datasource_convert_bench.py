"""Data source conversion benchmark: the emulator's generated data source (6 columns) of
20,000 and 200,000 entities streamed through the converter into entities.csv, entities.geojson
and schema.json. Prints one table (``make bench``); nothing is asserted on time."""

from __future__ import annotations

import io
import time

import pytest
from dataflow_emulator.datasources import generated_data_source
from geocode_dataflow.datasources import convert_to_folder
from geocode_dataflow.pipeline.storage import ChunkReader

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("entities", [20_000, 200_000])
def test_datasource_conversion_throughput(entities, tmp_path, capsys):
    # The export is made while it is read: the figure is the converter's, plus the making.
    reader = ChunkReader(generated_data_source(entities=entities).export_chunks())
    started = time.perf_counter()
    result = convert_to_folder(io.BufferedReader(reader, 1 << 16), tmp_path)
    seconds = time.perf_counter() - started
    assert result.entities == entities
    sizes = {p.name: p.stat().st_size / 2**20 for p in tmp_path.iterdir()}
    with capsys.disabled():
        print(
            f"\n{entities:>9,} entities  XML {reader.bytes_read / 2**20:6.1f} MiB  "
            f"CSV {sizes['entities.csv']:5.1f} MiB  GeoJSON {sizes['entities.geojson']:5.1f} MiB  "
            f"{seconds:5.1f} s  {entities / seconds:8,.0f} entities/s"
        )
