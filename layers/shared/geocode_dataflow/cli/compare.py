"""``geocode-dataflow compare A B``: how far provider B's answers are from provider A's.

The comparison itself is ``geocode_dataflow.compare`` (imported when the command runs, as it
loads the schema engine); this module turns it into a terminal summary, JSON or a CSV report.
``local run --compare-with`` prints its comparison with ``report`` too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from geocode_dataflow.cli.common import EXIT_OK, CliError, Commands, add_command, note

if TYPE_CHECKING:
    from geocode_dataflow.compare import Changes, Comparison, Summary

NOTES = """\
A and B are each a result file (xml, csv, tab or pipe) or a job folder (its succeeded.* and
failed.* are read; job.json's "provider", when present, names the side, else the folder name).
Entities are matched by Id; the first of duplicate Ids counts. The CSV has one row per Id in
A's order (a folder: succeeded, then failed), then the Ids only B has. Distances are between
the first responses' points; shares and percentiles are over the entities matched in both.

"""


def register(commands: Commands, parents: list[argparse.ArgumentParser]) -> None:
    compare = add_command(
        commands,
        "compare",
        "compare two providers' results for the same file, entity by entity",
        cmd_compare,
        parents,
        notes=NOTES,
    )
    compare.add_argument("a", metavar="A", help="the reference results (file or job folder)")
    compare.add_argument("b", metavar="B", help="the results compared with A")
    compare.add_argument("--out", metavar="REPORT.csv", help="write the per-entity CSV here")
    compare.add_argument("--json", action="store_true", help="print the summary as JSON")


def cmd_compare(args: argparse.Namespace) -> int:
    comparison = load(args.a, args.b)
    report(comparison, sys.stdout, csv_path=Path(args.out) if args.out else None, as_json=args.json)
    return EXIT_OK


def load(a: str | Path, b: str | Path) -> Comparison:
    """The comparison of ``a`` with ``b``; an unreadable side is a usage error naming the file."""
    from geocode_dataflow.compare import compare_paths
    from geocode_dataflow.errors import InvalidFeedError

    try:
        return compare_paths(a, b)
    except InvalidFeedError as exc:
        raise CliError(f"cannot compare: {exc}") from exc


def report(
    comparison: Comparison, out: TextIO, *, csv_path: Path | None = None, as_json: bool = False
) -> None:
    """Writes the per-entity CSV (when asked) and prints the summary on ``out``."""
    if csv_path is not None:
        with open(csv_path, "w", encoding="utf-8", newline="") as sink:
            comparison.write_csv(sink)
        note(f"wrote {csv_path} ({len(comparison.rows)} entities)")
    summary = comparison.summary()
    if as_json:
        out.write(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render(summary) + "\n")


def render(summary: Summary) -> str:
    """A few aligned lines: the statuses side by side, then the figures."""
    from geocode_dataflow.compare import FAILED, MATCHED, MISSING, NO_MATCH, THRESHOLDS_M

    a, b = summary.label_a, summary.label_b
    table = [
        ("", a, b),
        *(
            (label, str(summary.statuses_a[status]), str(summary.statuses_b[status]))
            for label, status in (
                ("matched", MATCHED),
                ("no match", NO_MATCH),
                ("failed", FAILED),
                ("missing", MISSING),
            )
        ),
        ("duplicate Ids", str(summary.duplicates_a), str(summary.duplicates_b)),
    ]
    width_a = max(len(row[1]) for row in table)
    width_b = max(len(row[2]) for row in table)
    figures = [
        (
            "matched in both",
            f"{summary.matched_both} (A only {summary.matched_a_only}, "
            f"B only {summary.matched_b_only}; failed in either {summary.failed_either})",
        ),
        ("within", _shares(summary, THRESHOLDS_M)),
        ("distance", _distances(summary)),
        (
            "entity type",
            f"{_changes(summary.entity_type_downgrades, 'downgrade')}, "
            f"{_changes(summary.entity_type_upgrades, 'upgrade')}",
        ),
        (
            "confidence",
            f"{_changes(summary.confidence_downgrades, 'downgrade')}, "
            f"{_changes(summary.confidence_upgrades, 'upgrade')}",
        ),
    ]
    label_width = max(len(label) for label, *_ in table + figures) + 2
    lines = [f"compare A={a} with B={b}: {summary.entities} entities", ""]
    lines += [
        f"{label:<{label_width}}{left:>{width_a}}  {right:>{width_b}}".rstrip()
        for label, left, right in table
    ]
    lines.append("")
    lines += [f"{label:<{label_width}}{text}" for label, text in figures]
    return "\n".join(lines)


def _shares(summary: Summary, thresholds: dict[str, float]) -> str:
    if not summary.measured:
        return "-"
    shares = ", ".join(
        f"{_metres(thresholds[label])} {share:.1%}"
        for label, share in summary.within.items()
        if share is not None
    )
    return f"{shares} (of {summary.measured} with a point in both)"


def _distances(summary: Summary) -> str:
    if not summary.measured:
        return "none measured (no entity matched in both with a point)"
    return f"median {_metres(summary.median_m)}, 95th percentile {_metres(summary.p95_m)}"


def _metres(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1_000:
        return f"{value:.0f} m"
    return f"{value / 1_000:.1f}".removesuffix(".0") + " km"


def _changes(changes: Changes, what: str) -> str:
    text = f"{changes.count} {what}{'' if changes.count == 1 else 's'}"
    if changes.examples:
        more = ", ..." if changes.count > len(changes.examples) else ""
        text += f" ({', '.join(changes.examples)}{more})"
    return text
