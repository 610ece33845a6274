"""Where downloaded result files go: a writable folder, atomic writes (``.part`` then rename),
and file names that follow the content's Data Schema v2.0 format."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from geocode_dataflow.cli.common import CliError
from geocode_dataflow.client import DataflowClient, DataflowJob
from geocode_dataflow.providers import EXTENSIONS


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
