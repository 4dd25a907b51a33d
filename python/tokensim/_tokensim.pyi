"""Type stubs of the extension module (Rust, PyO3). Use it through the
``tokensim`` package: ``tokensim.Scenario``, ``tokensim.Market``,
``tokensim.run``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

__version__: str

class Scenario:
    """A scenario, parsed and checked against the schema (not yet built).

    Immutable: :meth:`set` returns a new scenario.

    >>> sc = Scenario.load("scenarios/market.toml").set("populations.traders.count", 50_000)
    """

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Scenario:
        """Reads and parses a scenario file (raises ``ScenarioError`` located
        at ``file:line:col``, or ``TokensimError`` for a missing file)."""
    @staticmethod
    def from_toml(text: str, path: str | os.PathLike[str] | None = None) -> Scenario:
        """Parses scenario text; ``path`` names it in errors and is where
        relative file paths in it resolve from."""
    @staticmethod
    def from_dict(data: dict[str, Any], path: str | os.PathLike[str] | None = None) -> Scenario:
        """Builds a scenario from a dict shaped like the TOML file."""
    def set(self, path: str, value: bool | int | float | str | list[Any] | dict[str, Any]) -> Scenario:
        """A copy with the value at dotted ``path`` replaced, checked as
        ``--set path=value`` is."""
    def to_toml(self) -> str:
        """The scenario as TOML text, overrides applied."""
    def to_json(self) -> str:
        """The scenario's value tree as JSON text."""
    @property
    def path(self) -> str:
        """The file it came from (or the name it was given)."""
    @property
    def name(self) -> str:
        """The scenario's ``name``."""
    @property
    def ticks(self) -> int:
        """Ticks per run."""
    @property
    def seed(self) -> int:
        """Master seed."""
    @property
    def runs(self) -> int:
        """Monte Carlo replicates per point and variant."""

class Market:
    """The market at the start of the tick, as a Python behaviour sees it."""

    @property
    def tick(self) -> int:
        """The current tick, from 1."""
    @property
    def prices(self) -> dict[str, float]:
        """Every contract's spot price (NaN for a contract without one)."""
    def price(self, contract: str) -> float:
        """The spot price of ``contract`` (``KeyError`` listing the contracts
        for an unknown name)."""
    def balance(self, contract: str, asset: str) -> float:
        """The balance of ``asset`` in ``contract``'s account."""

class ArrowStream:
    """Record batches consumed once through the Arrow PyCapsule interface
    (``polars.DataFrame(stream)``, ``pyarrow.table(stream)``)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

def run(
    scenario: Scenario,
    out: str,
    sets: Sequence[tuple[str, Any]],
    seed: int | None,
    ticks: int | None,
    runs: int | None,
    jobs: int | None,
    force: bool,
    behaviours: Sequence[Any],
    start: Callable[[int, int], object] | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[str, int]:
    """Runs an experiment into ``out``; returns ``(out, violations)``."""

def cli(argv: Sequence[str], behaviours: Sequence[Any]) -> int:
    """The whole ``tokensim`` command line; returns its exit code."""

def report(dir: str, out: str | None = None, force: bool = True) -> str:
    """Writes the HTML report of a results directory; returns its path."""

def read_table(dir: str, table: str) -> ArrowStream | None:
    """Every part and shard of ``table`` in results directory ``dir``."""

def table_files(dir: str, table: str) -> list[str]:
    """The files of ``table`` the manifests of ``dir`` list."""
