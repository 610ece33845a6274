"""Results people can use: one table in input order, a GeoJSON of the matches, a summary.

Whatever the input (a Data Schema file or a plain table) and whichever provider geocoded it,
a job's ``succeeded`` / ``failed`` sets are joined back onto the input rows: ``results.csv``
has every input row, in input order, its own columns first and unchanged, then flat result
columns; ``results.geojson`` has the matched rows as RFC 7946 points; the match summary
counts matched / no match / failed. Everything is streamed in constant memory.
"""

from geocode_dataflow.results.build import BuiltResults, build_results
from geocode_dataflow.results.flat import RESULT_COLUMNS, MatchResult, flatten
from geocode_dataflow.results.summary import MatchSummary
from geocode_dataflow.results.tables import FeedTable, InputTable

__all__ = [
    "RESULT_COLUMNS",
    "BuiltResults",
    "FeedTable",
    "InputTable",
    "MatchResult",
    "MatchSummary",
    "build_results",
    "flatten",
]
