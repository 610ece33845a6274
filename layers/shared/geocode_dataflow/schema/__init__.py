"""Data Schema v2.0 (and 1.0, ``schema.v1``) of the Geocode Dataflow API: streaming readers,
writers and validation.

Four formats (xml, csv, tab, pipe) plus plain tables (``schema.plain``: csv/tsv/xlsx with the
user's own header, format ``table`` / ``xlsx``), read from UTF-8/UTF-16 and optionally gzip, in constant
memory; written as UTF-8. See ``model`` for the entities, ``validate_feed`` for checking a file
before it is sent, and ``convert`` for what each format can carry.
"""

from geocode_dataflow.schema.checks import Finding, check_entity, fault_reason
from geocode_dataflow.schema.columns import TEXT_COLUMNS
from geocode_dataflow.schema.convert import FeedWriter, convert_feed, text_losses, write_feed
from geocode_dataflow.schema.detect import FORMATS, TEXT_FORMATS, VERSION_LINE
from geocode_dataflow.schema.encoding import utf8_chunks
from geocode_dataflow.schema.issues import FeedError, Issue
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
from geocode_dataflow.schema.plain import (
    MAPPING_SUFFIX,
    PLAIN_FORMATS,
    TableMapping,
    mapping_key,
    read_mapping_file,
)
from geocode_dataflow.schema.reader import FeedReader, open_feed
from geocode_dataflow.schema.validate import Limits, ValidationReport, validate_feed
from geocode_dataflow.schema.xmlwrite import NAMESPACE

__all__ = [
    "FORMATS",
    "MAPPING_SUFFIX",
    "PLAIN_FORMATS",
    "NAMESPACE",
    "TEXT_COLUMNS",
    "TEXT_FORMATS",
    "VERSION_LINE",
    "Address",
    "BoundingBox",
    "FeedError",
    "FeedReader",
    "FeedWriter",
    "Finding",
    "GeocodeEntity",
    "GeocodePoint",
    "GeocodeRequest",
    "GeocodeResponse",
    "Issue",
    "Limits",
    "Point",
    "TableMapping",
    "QueryParseValue",
    "ReverseGeocodeRequest",
    "ValidationReport",
    "check_entity",
    "convert_feed",
    "fault_reason",
    "mapping_key",
    "read_mapping_file",
    "open_feed",
    "text_losses",
    "utf8_chunks",
    "validate_feed",
    "write_feed",
]
