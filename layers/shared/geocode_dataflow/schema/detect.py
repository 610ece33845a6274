"""Which of the four formats a feed is, from its first line, its header line and its name.

Content decides over the file name (a ``.txt`` can be any delimiter; a mislabelled ``.csv``
that starts with ``<`` is XML); an explicit format decides over both.
"""

from __future__ import annotations

import re
from decimal import Decimal

from geocode_dataflow.schema.issues import FeedError

FORMATS = ("xml", "csv", "tab", "pipe")
TEXT_FORMATS = ("csv", "tab", "pipe")
DELIMITERS = {"csv": ",", "tab": "\t", "pipe": "|"}

VERSION_LINE = "Bing Spatial Data Services, 2.0"

_EXTENSIONS = {
    ".xml": "xml",
    ".csv": "csv",
    ".tab": "tab",
    ".tsv": "tab",
    ".pipe": "pipe",
    ".txt": "text",
}

# The version line is comma-delimited in every text format (Q20); spreadsheets re-saving the
# file may turn that comma into the file's delimiter, quote the cells or pad the row.
_VERSION_RE = re.compile(
    r'^\s*"?\s*bing spatial data services\s*"?\s*[,|\t]\s*"?\s*([^,|\t"]*?)\s*"?\s*[,|\t\s]*$',
    re.IGNORECASE,
)


# xs:decimal's lexical form, and the whitespace XML collapses around it.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_XML_SPACE = " \t\r\n"


def format_from_name(filename: str | None) -> str | None:
    """``xml``/``csv``/``tab``/``pipe``, ``text`` for ``.txt`` (delimiter unknown), or None."""
    if not filename:
        return None
    name = filename.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    dot = name.rfind(".")
    return _EXTENSIONS.get(name[dot:]) if dot >= 0 else None


def check_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    normalised = fmt.strip().lower()
    if normalised not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return normalised


def looks_like_xml(first_line: str) -> bool:
    return first_line.lstrip().startswith("<")


def text_version(first_line: str) -> str | None:
    """The version number on a text version line, or None if it is not a version line."""
    # Split and strip rather than one regex: overlapping whitespace quantifiers backtrack
    # catastrophically on a crafted line.
    parts = re.split(r"[,|\t]", first_line.rstrip("\r\n"), maxsplit=2)
    if (
        len(parts) < 2
        or parts[0].strip().strip('"').strip().lower() != "bing spatial data services"
    ):
        return None
    return parts[1].strip(_XML_SPACE).strip('"').strip(_XML_SPACE)


def version_problem(number: str) -> str | None:
    """Why ``number`` does not declare Data Schema 2.0, or None when it does.

    The XSD types Version as xs:decimal: an optional sign, ASCII digits and at most one ``.``
    (``2``, ``2.0``, ``02.00``), surrounded by XML whitespace at most. No exponent (``2.0e0``),
    no other digits (``٢.٠``), no ``_`` separators: ``Decimal()`` and ``float()`` take those,
    the service does not.
    """
    stripped = number.strip(_XML_SPACE)
    if _DECIMAL.fullmatch(stripped) is None:
        return (
            "that is not a decimal number as the schema writes one (ASCII digits 0-9 and one "
            "'.', e.g. 2.0)"
        )
    if Decimal(stripped) not in (1, 2):
        return "only Data Schema 2.0 and 1.0 exist"
    return None


def version_name(number: str) -> str:
    """``"1.0"`` or ``"2.0"`` for a number ``version_problem`` accepts."""
    return "1.0" if Decimal(number.strip(_XML_SPACE)) == 1 else "2.0"


def check_text_version(first_line: str) -> str:
    """The version (``"2.0"`` / ``"1.0"``) the first line declares; ``wrong-version`` unless it
    is a version line of one of them."""
    shown = first_line.rstrip("\r\n")
    number = text_version(first_line)
    if number is None:
        hint = ""
        if shown.strip().split(",")[0].split("|")[0].split("\t")[0].strip().lower() == "id":
            hint = " The file starts with the header line: add the version line above it."
        elif shown.strip():
            hint = (
                " Nor is it Data Schema 1.0 (31 fields by position, no header) or a table "
                "whose column names could be recognised."
            )
        raise FeedError(
            "wrong-version",
            f"the first line must be {VERSION_LINE!r}, found {shown[:80]!r}.{hint}",
            line=1,
        )
    problem = version_problem(number)
    if problem is not None:
        raise FeedError(
            "wrong-version",
            f"the version line declares version {number!r}; {problem} (write {VERSION_LINE!r})",
            line=1,
        )
    return version_name(number)


def text_format_from_header(header_line: str, name_hint: str | None) -> str:
    """The delimiter of a text feed, from its header line (tab, then pipe, then comma)."""
    if "\t" in header_line:
        return "tab"
    if "|" in header_line:
        return "pipe"
    if "," in header_line:
        return "csv"
    # A one-column header ("Id") has no delimiter: trust the name, else default to csv.
    return name_hint if name_hint in TEXT_FORMATS else "csv"
