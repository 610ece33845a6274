"""Where downloaded result files go: a writable folder, atomic writes (``.part`` then rename),
and file names that follow the content's Data Schema v2.0 format."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import IO

from geocode_dataflow.cli.common import CliError
from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.providers import EXTENSIONS
from geocode_dataflow.schema.issues import ignore_issues


def unused_out_dir(value: str, *, force: bool) -> Path:
    """``value`` when it is not an existing folder with something in it (or ``force``): checked
    before a job is created, so that a second run neither overwrites the first one's results
    nor is billed for nothing."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise CliError(f"--out {path} is not a directory")
    if not force and path.is_dir() and any(path.iterdir()):
        raise CliError(
            f"--out {path} is not empty: choose an empty or new directory, "
            "or pass --force to overwrite what is there"
        )
    return path


def out_dir(value: str) -> Path:
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise CliError(f"cannot write to {path}")
    return path


def save_set(
    client: DataflowClient, job: DataflowJob, which: str, folder: Path, fmt: str | None
) -> tuple[Path, int]:
    """Downloads the ``which`` result set into ``folder/which.<ext>``; the path and its size."""
    partial = folder / f".{which}.part"
    try:
        with open(partial, "w+b") as sink:
            size = client.download_results(job, which, sink)
            sink.seek(0)
            detected = fmt or sniff_format(sink.read(64 * 1024))
        target = folder / f"{which}.{EXTENSIONS.get(detected or '', 'txt')}"
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target, size


def save(write: Callable[[IO[bytes]], int], target: Path) -> int:
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "w+b") as sink:
            size = write(sink)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return size


def sniff_format(head: bytes) -> str | None:
    """The Data Schema v2.0 format of a result file from its first bytes, or None."""
    text = head.lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace").lstrip()
    if not text:
        return None
    if text.startswith("<"):
        return "xml"
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("bing spatial data services"):
        lines = lines[1:]  # the version line reads "…, 2.0" in every text format (Q20)
    if not lines:
        return None
    counts = {"pipe": lines[0].count("|"), "tab": lines[0].count("\t"), "csv": lines[0].count(",")}
    best = max(counts, key=lambda name: counts[name])
    return best if counts[best] else None


def safe_name(name: str) -> str:
    cleaned = "".join(char if char.isalnum() or char in "-_." else "_" for char in name).strip(".")
    return cleaned or "datasource"


def _ids(path: Path) -> Iterator[str]:
    from geocode_dataflow.schema import open_feed

    with open_feed(path, on_issue=ignore_issues) as reader:
        for entity in reader:
            yield entity.id or ""


def _in_order(sets: list[tuple[str, Path, int]], source: Path) -> bool:
    """Every set already lists its entities in the order of the input's Ids (as the service
    does not promise: protocol reference §6), each Id once. The input is read once."""
    listed = [list(_ids(path)) for _, path, _ in sets]
    members = [set(ids) for ids in listed]
    if any(len(ids) != len(unique) for ids, unique in zip(listed, members, strict=True)):
        return False
    expected: list[list[str]] = [[] for _ in sets]
    for entity_id in _ids(source):
        for order, unique in zip(expected, members, strict=True):
            if entity_id in unique:
                order.append(entity_id)
    return expected == listed


def in_input_order(
    sets: list[tuple[str, Path, int]], source: Path, folder: Path
) -> list[tuple[str, Path, int]]:
    """The downloaded sets ``(name, path, size)`` put in the order of ``source`` (the file
    sent), in place; a set already in that order keeps the service's bytes."""
    if _in_order(sets, source):
        return sets
    from geocode_dataflow.results.order import write_in_input_order

    partials = {which: path.with_name(f".{path.name}.part") for which, path, _ in sets}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="order-", dir=folder) as work,
            ExitStack() as stack,
        ):
            sinks = {
                which: stack.enter_context(open(path, "wb")) for which, path in partials.items()
            }
            write_in_input_order(
                {which: (str(path), partial(open, path, "rb")) for which, path, _ in sets},
                _ids(source),
                sinks,
                Path(work),
            )
        for which, path, _ in sets:
            os.replace(partials[which], path)
    finally:
        for path in partials.values():
            path.unlink(missing_ok=True)
    return [(which, path, path.stat().st_size) for which, path, _ in sets]
