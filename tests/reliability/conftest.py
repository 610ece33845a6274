"""The reliability suite's shared pieces: the figures table printed once at the end, and the
hostile corpus and secret scanner of tests/integration/hostile (loaded by path: tests are not
a package)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HOSTILE = Path(__file__).resolve().parents[1] / "integration" / "hostile"


def _load(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, HOSTILE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)


_load("hostile_corpus")
_load("secret_scan")  # imports hostile_corpus, loaded just above


@dataclass
class Figure:
    scenario: str
    measure: str
    value: str
    expected: str
    ok: bool


class Figures:
    """Rows of the table, in the order the tests add them."""

    def __init__(self) -> None:
        self.rows: list[Figure] = []

    def add(self, scenario: str, measure: str, value: object, expected: object, ok: bool) -> None:
        self.rows.append(Figure(scenario, measure, str(value), str(expected), bool(ok)))

    def table(self) -> list[str]:
        header = Figure("scenario", "measure", "value", "expected", True)
        rows = [header, *self.rows]
        widths = [
            max(len(getattr(r, f)) for r in rows)
            for f in ("scenario", "measure", "value", "expected")
        ]

        def line(r: Figure, verdict: str) -> str:
            cells = (r.scenario, r.measure, r.value, r.expected)
            return (
                " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + f" | {verdict}"
            )

        out = [line(header, "ok"), "-+-".join("-" * w for w in widths) + "-+---"]
        out += [line(r, "yes" if r.ok else "NO") for r in self.rows]
        return out


FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES.rows:
        return
    terminalreporter.section("reliability figures")
    for text in FIGURES.table():
        terminalreporter.write_line(text)
