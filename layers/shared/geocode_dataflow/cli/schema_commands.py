"""``validate`` and ``convert``: Data Schema files (2.0, 1.0, and plain tables) checked offline.

Also the entity limits and the schema engine loader that ``run`` shares with ``validate``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from geocode_dataflow.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    Commands,
    add_command,
    note,
)

FORMATS = ("xml", "csv", "tab", "pipe")
BASIC_MAX_ENTITIES = 50


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    validate = add_command(
        commands,
        "validate",
        "check a file against Data Schema v2.0 and the service's limits",
        cmd_validate,
        parents,
    )
    validate.add_argument("file", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    add_mapping(validate)
    add_limits(validate)

    convert = add_command(
        commands,
        "convert",
        "convert a file to another format (Data Schema 1.0 files become 2.0)",
        cmd_convert,
        parents,
    )
    convert.add_argument("file", metavar="FILE")
    convert.add_argument("--to", required=True, choices=FORMATS, help="target format")
    convert.add_argument(
        "--schema-version",
        choices=("2.0", "1.0"),
        default="2.0",
        help="Data Schema version of the output (default 2.0)",
    )
    convert.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    add_mapping(convert)
    add_limits(convert)


def cmd_validate(args: argparse.Namespace) -> int:
    schema = load_schema()
    report = schema.validate_feed(
        args.file, limits=limits(schema, args), mapping=table_mapping(schema, args)
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.to_text())
    return EXIT_OK if report.valid else EXIT_INVALID


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert under the service's limits (the output is meant for it), reporting on stderr
    what the target format could not carry; an unreadable file is an error (exit 1)."""
    schema = load_schema()
    losses: list[Any] = []
    feed_limits = limits(schema, args)
    mapping = table_mapping(schema, args)
    if args.output:
        target = Path(args.output)
        partial = target.with_name(f".{target.name}.part")
        try:
            with open(args.file, "rb") as source, open(partial, "wb") as sink:
                count = schema.convert_feed(
                    source,
                    sink,
                    args.to,
                    filename=args.file,
                    losses=losses,
                    limits=feed_limits,
                    mapping=mapping,
                    to_version=args.schema_version,
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        note(
            f"converted {count} entities to {args.to} (Data Schema {args.schema_version}): {target}"
        )
    else:
        with open(args.file, "rb") as source:
            count = schema.convert_feed(
                source,
                sys.stdout.buffer,
                args.to,
                filename=args.file,
                losses=losses,
                limits=feed_limits,
                mapping=mapping,
                to_version=args.schema_version,
            )
        sys.stdout.buffer.flush()
        note(f"converted {count} entities to {args.to} (Data Schema {args.schema_version})")
    report_losses(losses, args.to)
    return EXIT_OK


SHOWN_LOSSES = 10


def report_losses(losses: list[Any], target: str) -> None:
    """What the conversion changed, on stderr: totals, then the first few entities."""
    replaced = [issue for issue in losses if issue.code == "replaced-characters"]
    dropped = [issue for issue in losses if issue.code != "replaced-characters"]
    if replaced:
        characters = sum(issue.count or 1 for issue in replaced)
        note(
            f"warning: {characters:,} character(s) in {len(replaced):,} entities cannot be "
            f"written as {target} and were replaced by U+FFFD"
        )
    if dropped:
        note(f"warning: {len(dropped):,} entities lost values {target} cannot carry")
    for issue in losses[:SHOWN_LOSSES]:
        note(f"  {issue.where() or '-'}: [{issue.code}] {issue.message}")
    if len(losses) > SHOWN_LOSSES:
        note(f"  ... and {len(losses) - SHOWN_LOSSES:,} more")


def add_mapping(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mapping",
        metavar="MAP.json",
        help="a plain table's column mapping (default: FILE.mapping.json when it exists)",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=FIELD",
        help="map a plain table's column to a field (id, query, address_line, locality, "
        "admin_district, admin_district2, postal_code, country_region, culture, latitude, "
        "longitude, ignore); repeatable, over --mapping",
    )


def table_mapping(schema: Any, args: argparse.Namespace) -> Any:
    """The ``schema.TableMapping`` of ``--mapping`` / ``--column`` / the sidecar, or None."""
    path = args.mapping
    if path is None and Path(args.file + schema.MAPPING_SUFFIX).is_file():
        path = args.file + schema.MAPPING_SUFFIX
        note(f"using the mapping in {path}")
    columns: dict[str, str] = {}
    for option in args.column:
        name, sep, target = option.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--column {option!r}: write NAME=FIELD, e.g. 'Addr=address_line'")
        columns[name.strip()] = target.strip()
    if path is None and not columns:
        return None
    try:
        mapping = schema.read_mapping_file(path) if path else schema.TableMapping()
        return mapping.with_columns(columns) if columns else mapping
    except OSError as exc:
        raise CliError(f"--mapping {path}: {exc.strerror or exc}") from None
    except schema.FeedError as exc:
        raise CliError(f"{'--mapping ' + path if path else '--column'}: {exc}") from None


def add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--max-entities", type=int, metavar="N", help="entity limit (default: 200000, Enterprise)"
    )
    group.add_argument(
        "--basic",
        action="store_true",
        help=f"apply the Basic-key limit ({BASIC_MAX_ENTITIES} entities)",
    )


def limits(schema: Any, args: argparse.Namespace) -> Any:
    """The ``schema.Limits`` that ``--basic`` / ``--max-entities`` ask for."""
    if args.basic:
        return schema.Limits(max_entities=BASIC_MAX_ENTITIES)
    if args.max_entities is not None:
        if args.max_entities <= 0:
            raise CliError("--max-entities must be > 0")
        return schema.Limits(max_entities=args.max_entities)
    return schema.Limits()


def load_schema() -> Any:
    """The schema engine, imported when a command needs it so ``--help`` stays light."""
    try:
        return importlib.import_module("geocode_dataflow.schema")
    except ImportError as exc:  # only while the package is being assembled
        raise CliError(f"the schema engine is not available ({exc})") from None
