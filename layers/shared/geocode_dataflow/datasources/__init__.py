"""Data source backups: the Data Source Download export (an ADO.NET DataSet: inline
``xs:schema`` + entities) turned into ``entities.csv``, ``entities.geojson`` and
``schema.json``, streamed."""

from geocode_dataflow.datasources.convert import (
    ENTITIES_CSV,
    ENTITIES_GEOJSON,
    SCHEMA_JSON,
    Conversion,
    convert,
    convert_to_folder,
)
from geocode_dataflow.datasources.model import Column, DataSourceFormatError, DataSourceSchema
from geocode_dataflow.datasources.reader import DataSourceLimits, DataSourceReader

__all__ = [
    "ENTITIES_CSV",
    "ENTITIES_GEOJSON",
    "SCHEMA_JSON",
    "Column",
    "Conversion",
    "DataSourceFormatError",
    "DataSourceLimits",
    "DataSourceReader",
    "DataSourceSchema",
    "convert",
    "convert_to_folder",
]
