"""Hostile and broken inputs, each with what the pipeline must do with it.

Shared by the hostile-input tests (tests/integration/hostile) and the reliability suite
(tests/reliability, which loads this file by path). Every case is built in memory, from
facts of Data Schema v2.0, at test time; the few large ones are generated into a temporary
folder by the test that uses them, never committed.

``expect`` is one of:
- ``rejected``: a file-level error; the job is REJECTED, no provider call, and every word of
  ``words`` (case-insensitive) is in the rejection report's errors (and the first of them in
  the job record's error);
- ``completed``: the file is fine at file level; the job COMPLETES, the entities in
  ``failed_ids`` come back in the failed set and ``warning_codes`` are among the validator's
  warnings.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from geocode_dataflow.schema import open_feed, validate_feed
from local_pipeline.stack import LocalPipeline, LocalPipelineOptions

VERSION = "Bing Spatial Data Services, 2.0"
NS = "http://schemas.microsoft.com/search/local/2010/5/geocode"
HEADER = "Id,GeocodeRequest/Culture,GeocodeRequest/Query"


def text_feed(
    rows: list[str], *, header: str = HEADER, version: str = VERSION, newline: str = "\n"
) -> str:
    return newline.join([version, header, *rows]) + newline


def good_csv(prefix: str = "ok", count: int = 3) -> bytes:
    """A small valid csv feed the emulator geocodes."""
    places = ["Seattle, WA", "Denver, CO", "Chicago, IL", "Portland, OR", "Boston, MA"]
    rows = [f'{prefix}{i},en-US,"{places[i % len(places)]}"' for i in range(count)]
    return text_feed(rows).encode("utf-8")


def xml_feed(entities: str, *, version_attr: str = ' Version="2.0"', prologue: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prologue}'
        f'<GeocodeFeed xmlns="{NS}"{version_attr}>\n{entities}</GeocodeFeed>\n'
    ).encode()


def xml_entity(entity_id: str, query: str) -> str:
    return (
        f'  <GeocodeEntity Id="{entity_id}">\n'
        f'    <GeocodeRequest Culture="en-US" Query="{query}" />\n'
        "  </GeocodeEntity>\n"
    )


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol "lol">']
    for level in range(1, 10):
        previous = f"&lol{level - 1};" if level > 1 else "&lol;"
        entities.append(f'<!ENTITY lol{level} "{previous * 10}">')
    dtd = "<!DOCTYPE GeocodeFeed [\n  " + "\n  ".join(entities) + "\n]>\n"
    return xml_feed(xml_entity("laugh", "&lol9;"), prologue=dtd)


def _external_entity(system_id: str) -> bytes:
    dtd = f'<!DOCTYPE GeocodeFeed [\n  <!ENTITY xxe SYSTEM "{system_id}">\n]>\n'
    return xml_feed(xml_entity("xxe", "&xxe;"), prologue=dtd)


def _parameter_entity() -> bytes:
    dtd = (
        "<!DOCTYPE GeocodeFeed [\n"
        '  <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
        "  <!ENTITY % inner \"<!ENTITY leak 'x'>\">\n"
        "  %remote;\n  %inner;\n]>\n"
    )
    return xml_feed(xml_entity("pe", "Paris"), prologue=dtd)


def _plain_dtd() -> bytes:
    dtd = "<!DOCTYPE GeocodeFeed [\n  <!ELEMENT GeocodeFeed ANY>\n]>\n"
    return xml_feed(xml_entity("dtd", "Paris"), prologue=dtd)


def _deep_xml(depth: int = 10_000) -> bytes:
    inner = "<Nest>" * depth + "</Nest>" * depth
    return xml_feed(
        f'  <GeocodeEntity Id="deep">{inner}<GeocodeRequest Query="Paris" /></GeocodeEntity>\n'
    )


def _random_bytes(size: int = 4096, seed: int = 5) -> bytes:
    return random.Random(seed).randbytes(size)


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _truncated_gzip() -> bytes:
    whole = gzip.compress(good_csv("gz", 40), mtime=0)
    return whole[: len(whole) // 2]


FORMULA_ROWS = [
    'f1,en-US,"=HYPERLINK(""http://127.0.0.1/x"",""click"")"',
    "f2,en-US,+cmd|' /C calc'!A0",
    "f3,en-US,@SUM(1+1)*cmd|' /C calc'!A0",
    "f4,en-US,-2+3",
]
FORMULA_VALUES = {
    "f1": '=HYPERLINK("http://127.0.0.1/x","click")',
    "f2": "+cmd|' /C calc'!A0",
    "f3": "@SUM(1+1)*cmd|' /C calc'!A0",
    "f4": "-2+3",
}


# ------------------------------------------------------------------ small files that inflate
GZIP_BLOCK = 1 << 20


def gzip_repeat(head: str, unit: str, count: int, tail: str = "") -> bytes:
    """``head + unit * count + tail`` as gzip, without ever holding it: gzip members
    concatenate, so one compressed MiB of units (about 1 KiB) is simply repeated. A 300 MB
    body costs a few milliseconds and stays well under 1 MB."""
    per_block = max(1, GZIP_BLOCK // len(unit))
    full, rest = divmod(count, per_block)
    block = gzip.compress((unit * per_block).encode(), compresslevel=9, mtime=0)
    return b"".join(
        [
            gzip.compress(head.encode(), mtime=0),
            block * full,
            gzip.compress((unit * rest + tail).encode(), mtime=0),
        ]
    )


XML_HEAD = f'<?xml version="1.0" encoding="utf-8"?>\n<GeocodeFeed xmlns="{NS}" Version="2.0">\n'


@dataclass(frozen=True)
class Bomb:
    """A file under 1 MB that inflates into something the reader must stop early.

    ``build`` makes the bytes when a test needs them (each in milliseconds). ``code``/``line``:
    the first error that ``validate`` and ``convert`` must end with; None for a file that is
    valid apart from remarks (``collapsed``: the one warning code its flood of remarks must
    collapse into). ``args``: extra arguments for both commands.
    """

    kind: str
    filename: str
    build: Callable[[], bytes] = field(repr=False)
    code: str | None
    line: int | None = None
    words: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    collapsed: str | None = None
    note: str = ""


def _unknown_attribute_flood(entities: int = 20_000, attributes: int = 100) -> bytes:
    extra = " ".join(f'x{i}=""' for i in range(attributes))
    body = "".join(
        f'<GeocodeEntity Id="u{i}" {extra}><GeocodeRequest Query="q"/></GeocodeEntity>\n'
        for i in range(entities)
    )
    return gzip.compress((XML_HEAD + body + "</GeocodeFeed>\n").encode(), mtime=0)


def _unique_rows(count: int) -> str:
    return "".join(f"r{i},en-US,Paris\n" for i in range(count))


def bombs() -> list[Bomb]:
    """Each a defect once (memory past 512 MB or minutes of work) before it was bounded."""
    text_head = f"{VERSION}\n{HEADER}\n"
    return [
        Bomb(
            "xml-nesting-bomb",
            "nesting.xml.gz",
            lambda: gzip_repeat(XML_HEAD + '<GeocodeEntity Id="deep">', "<Nest>", 9_000_000),
            "too-deep",
            3,
            ("nested more than 32",),
            note="9M nested elements, 54 MB: 1.2 GB once",
        ),
        Bomb(
            "csv-empty-cells-bomb",
            "cells.csv.gz",
            lambda: gzip_repeat(text_head + "1", ",", 100_000_000, "\n"),
            "row-too-long",
            3,
            ("longer than 1,048,576",),
            note="one row of 100M empty cells: 935 MB and VALID once",
        ),
        Bomb(
            "csv-long-cell-bomb",
            "cell.csv.gz",
            lambda: gzip_repeat(text_head + "big,en-US,", "A", 280_000_000, "\n"),
            "malformed-row",
            3,
            ("131,072",),
            note="one 280 MB line was read whole before the cell limit applied: 633 MB",
        ),
        Bomb(
            "csv-long-line-bomb",
            "line.csv.gz",
            lambda: gzip_repeat(text_head + "big", "," + "A" * 100_000, 2_800, "\n"),
            "row-too-long",
            3,
            ("longer than 1,048,576",),
            note="a 280 MB line of cells each under the cell limit",
        ),
        Bomb(
            "csv-multiline-row-bomb",
            "multiline.csv.gz",
            lambda: gzip_repeat(text_head + '1,"\n', '"' + "," * 1_000 + '"\n', 300_000),
            "row-too-long",
            3,
            ("longer than 1,048,576",),
            note="quoted line breaks keep one row open over 300,000 lines of empty cells",
        ),
        Bomb(
            "csv-entity-flood",
            "flood.csv.gz",
            lambda: gzip_repeat(text_head + _unique_rows(51), "x,en-US,Paris\n", 20_000_000),
            "too-many-entities",
            53,
            ("more than 50", "limit is 50"),
            args=("--basic",),
            note="20M rows past the limit were all read (31M: killed at 60 s)",
        ),
        Bomb(
            "csv-blank-line-flood",
            "blank.csv.gz",
            lambda: gzip_repeat(text_head + "1,en-US,Paris\n", "\n", 300_000_000),
            "too-many-blank-rows",
            100_004,
            ("100,000 blank rows",),
            note="300M blank lines: minutes",
        ),
        Bomb(
            "xml-unknown-element-flood",
            "elements.xml.gz",
            lambda: gzip_repeat(XML_HEAD + xml_entity("a", "Paris"), "<x/>", 75_000_000),
            "too-many-skipped-elements",
            6,
            ("10,000 elements",),
            note="75M unknown elements: minutes",
        ),
        Bomb(
            "xml-point-flood",
            "points.xml.gz",
            lambda: gzip_repeat(
                XML_HEAD + '<GeocodeEntity Id="p"><GeocodeResponse>',
                '<GeocodePoint Latitude="1" Longitude="2"/>',
                5_000_000,
            ),
            "entity-too-large",
            3,
            ("more than 1,000 elements",),
            note="5M points in one entity: over 1 GB",
        ),
        Bomb(
            "xml-duplicate-element-flood",
            "addresses.xml.gz",
            lambda: gzip_repeat(
                XML_HEAD + '<GeocodeEntity Id="d"><GeocodeRequest Query="q">',
                "<Address/>",
                3 * 10**7,
            ),
            "duplicate-element",
            3,
            ("second <Address>",),
            note="30M copies of a once-only element: minutes",
        ),
        Bomb(
            "xml-unknown-attribute-flood",
            "attributes.xml.gz",
            _unknown_attribute_flood,
            None,
            collapsed="unknown-attribute",
            note="2M undefined attributes made 2M remarks",
        ),
    ]


@dataclass(frozen=True)
class HostileCase:
    kind: str
    filename: str
    data: bytes = field(repr=False)
    expect: str  # "rejected" | "completed"
    words: tuple[str, ...] = ()  # rejected: in the report's errors (case-insensitive)
    code: str | None = None  # rejected: the Issue code of the first error
    line: int | None = None  # rejected: the line of the first error, when it has one
    failed_ids: frozenset[str] = field(default_factory=frozenset)  # completed: in the failed set
    warning_codes: frozenset[str] = field(
        default_factory=frozenset
    )  # completed: validator warnings
    note: str = ""


def cases() -> list[HostileCase]:
    """The corpus (all small: the largest is a few hundred KiB, some inflating to 300 MB)."""
    csv_rows = ["a1,en-US,Seattle WA", "a2,en-US,Denver CO"]
    c: list[HostileCase] = []
    add = c.append

    # --- XML that tries to make the parser work for the attacker
    add(
        HostileCase(
            "xml-billion-laughs",
            "laughs.xml",
            _billion_laughs(),
            "rejected",
            ("DTD", "entit"),
            "dtd-forbidden",
            2,
        )
    )
    add(
        HostileCase(
            "xml-external-entity-file",
            "xxe-file.xml",
            _external_entity("file:///etc/passwd"),
            "rejected",
            ("DTD",),
            "dtd-forbidden",
            2,
        )
    )
    add(
        HostileCase(
            "xml-external-entity-http",
            "xxe-http.xml",
            _external_entity("http://127.0.0.1:9/secret"),
            "rejected",
            ("DTD",),
            "dtd-forbidden",
            2,
        )
    )
    add(
        HostileCase(
            "xml-parameter-entities",
            "param.xml",
            _parameter_entity(),
            "rejected",
            ("DTD",),
            "dtd-forbidden",
            2,
        )
    )
    add(
        HostileCase(
            "xml-plain-dtd", "dtd.xml", _plain_dtd(), "rejected", ("DTD",), "dtd-forbidden", 2
        )
    )
    add(
        HostileCase(
            "xml-deep-nesting-10000",
            "deep.xml",
            _deep_xml(),
            "rejected",
            ("nested more than 32",),
            "too-deep",
            3,
            note="the schema needs 4 levels; past 32 the file is refused (MAX_XML_DEPTH)",
        )
    )
    add(
        HostileCase(
            "xml-unknown-subtree-depth-24",
            "subtree.xml",
            _deep_xml(22),
            "completed",
            warning_codes=frozenset({"unknown-element"}),
            note="an unknown subtree within the depth cap is skipped, the entity kept",
        )
    )
    add(
        HostileCase(
            "xml-truncated",
            "truncated.xml",
            xml_feed(xml_entity("t1", "Paris") + xml_entity("t2", "Rome"))[:-40],
            "rejected",
            ("not well-formed",),
            "not-well-formed",
        )
    )
    add(
        HostileCase(
            "xml-version-3",
            "v3.xml",
            xml_feed(xml_entity("v", "Paris"), version_attr=' Version="3.0"'),
            "rejected",
            ("Version", "3.0", "2.0"),
            "wrong-version",
            2,
        )
    )
    add(
        HostileCase(
            "xml-missing-version",
            "noversion.xml",
            xml_feed(xml_entity("v", "Paris"), version_attr=""),
            "completed",
            note="no Version is Data Schema 1.0, as the service reads it: answered in 1.0",
        )
    )

    # --- encodings the service does not take
    latin1 = text_feed(["l1,fr-FR,Champs-Élysées Paris", "l2,de-DE,Straße München"]).encode(
        "latin-1"
    )
    add(
        HostileCase(
            "latin-1", "latin1.csv", latin1, "rejected", ("UTF-8", "0xc9"), "undecodable", 3
        )
    )
    cp1252 = text_feed(["w1,en-US,\u201cMain Street\u201d Springfield"]).encode("cp1252")
    add(
        HostileCase(
            "windows-1252-smart-quotes",
            "smart.csv",
            cp1252,
            "rejected",
            ("UTF-8", "0x93"),
            "undecodable",
            3,
        )
    )
    sjis = text_feed(["j1,ja-JP,東京都千代田区"]).encode("shift_jis")
    add(HostileCase("shift-jis", "tokyo.csv", sjis, "rejected", ("UTF-8",), "undecodable", 3))
    add(
        HostileCase(
            "utf-16-without-bom",
            "nobom.txt",
            text_feed(csv_rows).encode("utf-16-le"),
            "rejected",
            ("UTF-16", "byte-order mark"),
            "undecodable",
            1,
        )
    )
    add(
        HostileCase(
            "utf-8-bom-only", "bom.csv", b"\xef\xbb\xbf", "rejected", ("empty",), "empty-file"
        )
    )
    add(
        HostileCase(
            "nul-bytes",
            "nul.csv",
            text_feed(["n1,en-US,Sea\x00ttle"]).encode(),
            "rejected",
            ("NUL",),
            "nul-character",
            3,
        )
    )

    # --- empty and almost empty
    add(HostileCase("empty-file", "empty.csv", b"", "rejected", ("empty",), "empty-file"))
    add(
        HostileCase(
            "whitespace-only", "blank.csv", b"  \n\t\r\n   \n", "rejected", ("empty",), "empty-file"
        )
    )
    add(
        HostileCase(
            "version-line-only",
            "version.csv",
            (VERSION + "\n").encode(),
            "rejected",
            ("header",),
            "missing-header",
            2,
        )
    )
    add(
        HostileCase(
            "header-only",
            "header.csv",
            text_feed([]).encode(),
            "rejected",
            ("no entities",),
            "no-entities",
        )
    )
    add(
        HostileCase(
            "wrong-version-3.0",
            "v3.csv",
            text_feed(csv_rows, version="Bing Spatial Data Services, 3.0").encode(),
            "rejected",
            ("version", "3.0", "2.0"),
            "wrong-version",
            1,
        )
    )
    add(
        HostileCase(
            "missing-version-line",
            "noversionline.csv",
            ("\n".join([HEADER, *csv_rows]) + "\n").encode(),
            "rejected",
            ("version line",),
            "wrong-version",
            1,
        )
    )

    # --- header and rows
    add(
        HostileCase(
            "unknown-columns",
            "unknown.csv",
            text_feed(["u1,Paris,x"], header="Id,GeocodeRequest/Query,Colour").encode(),
            "rejected",
            ("unknown column", "Colour"),
            "unknown-column",
            2,
        )
    )
    add(
        HostileCase(
            "missing-id-column",
            "noid.csv",
            text_feed(
                ["en-US,Paris"], header="GeocodeRequest/Culture,GeocodeRequest/Query"
            ).encode(),
            "rejected",
            ("Id",),
            "missing-id-column",
            2,
        )
    )
    add(
        HostileCase(
            "duplicate-ids",
            "dupes.csv",
            text_feed(["d1,en-US,Paris", "d2,en-US,Rome", "d1,en-US,Lyon"]).encode(),
            "rejected",
            ("used again", "'d1'", "line 3"),
            "duplicate-id",
            5,
        )
    )
    add(
        HostileCase(
            "empty-id",
            "emptyid.csv",
            text_feed(["e1,en-US,Paris", ",en-US,Rome"]).encode(),
            "rejected",
            ("no Id",),
            "missing-id",
            4,
        )
    )
    add(
        HostileCase(
            "more-cells-than-header",
            "wide.csv",
            text_feed(["x1,en-US,Paris,France,extra"]).encode(),
            "rejected",
            ("beyond the header",),
            "extra-cells",
            3,
        )
    )
    add(
        HostileCase(
            "mismatched-quotes",
            "quotes.csv",
            text_feed(['q1,en-US,"Paris', "q2,en-US,Rome"]).encode(),
            "rejected",
            ("never closed", "quote"),
            "malformed-row",
            3,
            note="an unterminated quote would swallow the rest of the file",
        )
    )
    add(
        HostileCase(
            "duplicate-column",
            "dupcol.csv",
            text_feed(
                ["c1,Paris,Rome"], header="Id,GeocodeRequest/Query,GeocodeRequest/Query"
            ).encode(),
            "rejected",
            ("twice",),
            "duplicate-column",
            2,
        )
    )

    # --- not text at all
    add(
        HostileCase(
            "random-bytes", "noise.csv", _random_bytes(), "rejected", ("UTF-8",), "undecodable"
        )
    )
    add(
        HostileCase("png-header", "image.xml", PNG, "rejected", ("UTF-8", "0x89"), "undecodable", 1)
    )
    add(
        HostileCase(
            "gzip-of-garbage",
            "noise.csv.gz",
            gzip.compress(_random_bytes(seed=9), mtime=0),
            "rejected",
            ("UTF-8",),
            "undecodable",
        )
    )
    add(
        HostileCase(
            "truncated-gzip", "cut.csv.gz", _truncated_gzip(), "rejected", ("gzip",), "bad-gzip"
        )
    )
    add(
        HostileCase(
            "not-gzip-despite-name",
            "plain.csv.gz",
            good_csv("ng"),
            "completed",
            note="content decides, not the name",
        )
    )

    # --- accepted oddities
    add(
        HostileCase(
            "crlf-line-endings",
            "crlf.csv",
            text_feed(csv_rows, newline="\r\n").encode(),
            "completed",
        )
    )
    add(
        HostileCase(
            "cr-only-line-endings",
            "cr.csv",
            text_feed(csv_rows, newline="\r").encode(),
            "completed",
        )
    )
    add(
        HostileCase(
            "spreadsheet-formulas",
            "formulas.csv",
            text_feed(FORMULA_ROWS).encode(),
            "completed",
            warning_codes=frozenset({"formula-injection"}),
        )
    )
    add(
        HostileCase(
            "entity-without-address",
            "noaddress.csv",
            text_feed(["g1,en-US,Seattle WA", "g2,en-US,"]).encode(),
            "completed",
            failed_ids=frozenset({"g2"}),
        )
    )
    add(
        HostileCase(
            "xinclude-not-fetched",
            "xinclude.xml",
            xml_feed(
                '  <GeocodeEntity Id="xi">'
                '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
                'parse="text"/>'
                '<GeocodeRequest Culture="en-US" Query="Paris" /></GeocodeEntity>\n'
            ),
            "completed",
            note="XInclude is just an unknown element: nothing is fetched",
        )
    )

    # --- names S3 URL-encodes in its events
    # --- values read exactly as the service reads them
    add(
        HostileCase(
            "xml-version-arabic-digits",
            "arabic.xml",
            xml_feed(xml_entity("v", "Paris"), version_attr=' Version="\u0662.\u0660"'),
            "rejected",
            ("Version", "decimal number", "ASCII"),
            "wrong-version",
            2,
        )
    )
    add(
        HostileCase(
            "text-version-exponent",
            "exponent.csv",
            text_feed(csv_rows, version="Bing Spatial Data Services, 2.0e0").encode(),
            "rejected",
            ("2.0e0", "decimal number"),
            "wrong-version",
            1,
        )
    )
    add(
        HostileCase(
            "xml-max-results-underscore",
            "underscore.xml",
            xml_feed(
                '  <GeocodeEntity Id="m">\n'
                '    <GeocodeRequest Culture="en-US" Query="Paris" MaxResults="1_0" />\n'
                "  </GeocodeEntity>\n"
            ),
            "rejected",
            ("MaxResults", "1_0", "ASCII digits"),
            "invalid-value",
            4,
        )
    )
    add(
        HostileCase(
            "xml-utf16-declared-on-utf8",
            "declared16.xml",
            xml_feed(xml_entity("d", "Paris")).replace(b'encoding="utf-8"', b'encoding="UTF-16"'),
            "rejected",
            ("UTF-16", "byte-order mark"),
            "declared-encoding",
            1,
        )
    )
    add(
        HostileCase(
            "pipe-one-column",
            "one-column.pipe",
            text_feed(["p1|Paris"], header="Id").encode(),
            "rejected",
            ("beyond the header", "pipe"),
            "extra-cells",
            3,
            note="the name says pipe: validate on the command line agrees (same code path)",
        )
    )
    add(
        HostileCase(
            "cr-only-undecodable",
            "cr-latin1.csv",
            text_feed(["c1,en-US,Paris", "c2,fr-FR,Orléans"], newline="\r").encode("latin-1"),
            "rejected",
            ("UTF-8", "0xe9"),
            "undecodable",
            4,
            note="CR alone ends a line: the error is on line 4, not line 1",
        )
    )
    add(
        HostileCase(
            "ids-equal-once-normalised",
            "nfc.csv",
            text_feed(["caf\u00e9,en-US,Paris", "cafe\u0301,en-US,Lyon"]).encode(),
            "rejected",
            ("duplicate", "normalised"),
            "duplicate-id",
            4,
        )
    )
    add(
        HostileCase(
            "json-cell-lone-surrogate",
            "surrogate.csv",
            text_feed(
                ['s1,"[{""Latitude"":""\\ud800"",""Longitude"":""2""}]"'],
                header="Id,GeocodeResponse/GeocodePoints",
            ).encode(),
            "rejected",
            ("surrogate",),
            "invalid-json",
            3,
        )
    )
    add(
        HostileCase(
            "xml-second-request",
            "two-requests.xml",
            xml_feed(
                '  <GeocodeEntity Id="r">\n'
                '    <GeocodeRequest Culture="en-US" Query="Paris" />\n'
                '    <GeocodeRequest Culture="en-US" Query="Rome" />\n'
                "  </GeocodeEntity>\n"
            ),
            "rejected",
            ("second <GeocodeRequest>",),
            "duplicate-element",
            5,
        )
    )
    add(
        HostileCase(
            "too-many-cells",
            "wide-row.csv",
            text_feed(["w1,en-US,Paris" + "," * 1_000]).encode(),
            "rejected",
            ("1,003 cells", "at most 1,000"),
            "too-many-cells",
            3,
        )
    )
    add(
        HostileCase(
            "unknown-attributes-on-every-entity",
            "attributes.xml",
            xml_feed(
                "".join(
                    f'  <GeocodeEntity Id="a{i}" Colour="red" Size="L">'
                    '<GeocodeRequest Culture="en-US" Query="Paris" /></GeocodeEntity>\n'
                    for i in range(5)
                )
            ),
            "completed",
            warning_codes=frozenset({"unknown-attribute"}),
            note="one remark with a count, not one per entity",
        )
    )

    # --- small files that inflate (see bombs()): refused early, in bounded memory
    for bomb in bombs():
        if bomb.code is not None and not bomb.args:
            add(
                HostileCase(
                    bomb.kind,
                    bomb.filename,
                    bomb.build(),
                    "rejected",
                    bomb.words,
                    bomb.code,
                    bomb.line,
                    note=bomb.note,
                )
            )

    # --- names S3 URL-encodes in its events
    add(
        HostileCase(
            "name-with-space-and-plus", "my file+v2 (copy).csv", good_csv("sp"), "completed"
        )
    )
    add(
        HostileCase(
            "name-with-percent-and-unicode", "100% naïve résumé.csv", good_csv("pc"), "completed"
        )
    )
    return c


def by_kind() -> dict[str, HostileCase]:
    return {case.kind: case for case in cases()}


# ------------------------------------------------------------------ running a case
# A pipeline that turns jobs around in well under a second.
FAST_OPTIONS = {
    "emulator_processing_seconds": 0.2,
    "initial_wait_seconds": 0,
    "min_wait_seconds": 0,
    "max_wait_seconds": 0,
    "emulator_options": {"max_pending_jobs": 100, "max_jobs_per_day": 1000},
}


def _reset_process_state() -> None:
    from aws_lambda_powertools.utilities import parameters
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    parameters.clear_caches()  # its secrets provider keeps a boto3 client of the old endpoint


@contextmanager
def isolated_pipeline(options: LocalPipelineOptions) -> Iterator[LocalPipeline]:
    """A LocalPipeline on fresh process state. moto's backends are process-global, so a second
    LocalPipeline in the same pytest run finds the first one's table ("Table already exists"),
    and Powertools' secrets provider keeps a boto3 client bound to the first moto server's
    port (connection refused). Reset before and after, whatever order the modules run in."""
    _reset_process_state()
    try:
        with LocalPipeline(options) as local:
            yield local
    finally:
        _reset_process_state()


@dataclass
class Outcome:
    """What happened to one case in a LocalPipeline; ``problems`` empty means as expected."""

    case: HostileCase
    job_id: str
    status: str | None
    detail: str
    seconds: float
    provider_jobs_created: int
    submit_invocations: int
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def submit_invocations(pipeline, key: str, since: int = 0) -> list:
    """The SubmitJobFunction invocations whose S3 event names ``key``."""
    found = []
    for invocation in pipeline.lambdas.invocations[since:]:
        if invocation.function != "SubmitJobFunction" or not isinstance(invocation.event, dict):
            continue
        keys = {unquote_plus(r["s3"]["object"]["key"]) for r in invocation.event.get("Records", [])}
        if key in keys:
            found.append(invocation)
    return found


def result_entities(pipeline, record, which: str) -> dict:
    """Entities of one result set by Id (empty when the set is absent)."""
    uri = record.outputs.get(which)
    if not uri:
        return {}
    with open_feed(io.BytesIO(pipeline.read(uri)), uri.rsplit("/", 1)[-1]) as feed:
        return {entity.id: entity for entity in feed}


def drop_and_check(
    pipeline, case: HostileCase, *, timeout: float = 60.0, exclusive: bool = True
) -> Outcome:
    """Drop ``case`` into the pipeline, wait for its job to end and check it ended as expected.

    ``exclusive``: nothing else runs meanwhile, so the emulator's job counter must not move for
    a rejected file (with other jobs in flight only this job's own record is checked).
    """
    state = pipeline.emulator.state
    created_before, creates_before = state.jobs_created, state.calls.get("create", 0)
    since = len(pipeline.lambdas.invocations)
    started = time.perf_counter()
    job_id = pipeline.drop(case.data, case.filename)
    record = pipeline.wait(job_id, timeout=timeout)
    seconds = time.perf_counter() - started
    key = f"{pipeline.input_prefix}{case.filename}"
    submits = submit_invocations(pipeline, key, since)
    created = state.jobs_created - created_before
    outcome = Outcome(case, job_id, record.status, "", seconds, created, len(submits))
    problems = outcome.problems

    if len(submits) != 1:
        problems.append(
            f"{len(submits)} submit invocations for {key} (expected exactly 1: no retry loop)"
        )
    problems += [f"submit raised {i.error_type}: {i.result}" for i in submits if i.error_type]

    if case.expect == "rejected":
        outcome.detail = (record.error or {}).get("message", "")
        if record.status != "REJECTED":
            problems.append(f"status {record.status}, expected REJECTED ({record.error})")
            return outcome
        if record.provider_job_id is not None:
            problems.append(f"a provider job was recorded: {record.provider_job_id}")
        if exclusive and (created or state.calls.get("create", 0) != creates_before):
            problems.append(f"the provider was called: {created} job(s) created")
        if pipeline.execution(job_id) is not None:
            problems.append("an execution was started for a rejected file")
        report = json.loads(pipeline.read(record.rejection_report))
        errors = report["report"]["errors"]
        if not errors:
            return outcome
        first = errors[0]
        text = " ".join(issue["message"] for issue in errors).lower()
        problems += [
            f"{word!r} not in the rejection report: {text[:300]}"
            for word in case.words
            if word.lower() not in text
        ]
        if (record.error or {}).get("type") != "InvalidFeedError" or record.error.get(
            "message"
        ) != first["message"]:
            problems.append(f"the record's error is not the report's first error: {record.error}")
        if case.code and first["code"] != case.code:
            problems.append(f"first error code {first['code']!r}, expected {case.code!r}")
        if case.line is not None and first.get("line") != case.line:
            problems.append(f"first error on line {first.get('line')}, expected line {case.line}")
        return outcome

    if record.status != "COMPLETED":
        problems.append(f"status {record.status}, expected COMPLETED ({record.error})")
        outcome.detail = str(record.error)
        return outcome
    failed = set(result_entities(pipeline, record, "failed"))
    outcome.detail = f"{record.succeeded_entities} succeeded, {record.failed_entities} failed"
    if failed != set(case.failed_ids):
        problems.append(f"failed set {sorted(failed)}, expected {sorted(case.failed_ids)}")
    report = validate_feed(io.BytesIO(case.data), case.filename)
    missing = set(case.warning_codes) - set(report.warning_codes)
    if missing:
        problems.append(f"validator warnings {sorted(report.warning_codes)} lack {sorted(missing)}")
    return outcome
