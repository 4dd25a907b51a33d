"""tokensim from Python: run scenarios, read their results as Polars frames,
and write behaviours as vectorised Python functions.

>>> import tokensim
>>> res = tokensim.run("scenarios/market.toml", set={"contracts.curve.entry_tribute": 0.1},
...                    runs=8, seed=1, jobs=2)                       # doctest: +SKIP
>>> res.ticks.join(res.runs, on="run_id")                            # doctest: +SKIP

The engine is the Rust crate; tables cross into Python through the Arrow C
stream interface. Python behaviours (:func:`behaviour`) decide in the Decide
phase under the interpreter lock, once per tick per population; the rest
of a run (settlement, accrual, checks, Parquet output, other runs) stays in
Rust and parallel.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Union

import polars as pl

from . import _tokensim
from ._progress import Progress
from ._tokensim import Market, Scenario
from .errors import BehaviourError, ScenarioError, TokensimError

__version__: str = _tokensim.__version__

__all__ = [
    "BehaviourError",
    "Market",
    "Results",
    "Scenario",
    "ScenarioError",
    "TokensimError",
    "behaviour",
    "behaviours",
    "cli",
    "load",
    "run",
]

PathLike = Union[str, "os.PathLike[str]"]

#: The tables a results directory may hold, as attributes of :class:`Results`.
TABLES = ("runs", "ticks", "events", "agents", "violations", "properties")


@dataclass(frozen=True)
class Behaviour:
    """A registered Python behaviour (see :func:`behaviour`)."""

    name: str
    func: Callable[..., Any]
    params: dict[str, float] = field(default_factory=dict)
    summary: str = ""


_BEHAVIOURS: dict[str, Behaviour] = {}


def behaviour(
    name: str, params: Mapping[str, float] | None = None, summary: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers a function as behaviour ``name``, which scenarios then name
    like a built-in (``[populations.x.behaviours.<name>]``).

    Every tick, for every population carrying it, the function is called once
    as ``func(agents, market, rng)`` and returns that tick's intents:

    - ``agents``: a ``polars.DataFrame`` with ``agent_id`` (UInt64), one Float64
      column per wallet slot named as in ``agents.parquet`` (``dai``, ``tkn``,
      ``staked``, ...) holding start-of-tick balances, and one Float64 column per
      parameter of ``params``, sampled per agent from the scenario's value (a
      number or ``{ dist = "uniform", low = ..., high = ... }``) or the default.
    - ``market``: a :class:`Market` (``tick``, ``prices``, ``price(contract)``,
      ``balance(contract, asset)``) at the start of the tick.
    - ``rng``: a ``numpy.random.Generator`` seeded from the run seed, the
      population, the behaviour and the tick: draw every random number from it
      and the run is reproducible at any ``jobs``.

    The returned frame has one row per intent: ``agent_id`` (integer, an agent
    of ``agents``), ``contract`` (name), ``action`` (``buy``, ``sell``,
    ``stake``, ... accepted by the contract), ``amount`` (units: reserve asset
    for buys, tokens for sells and stakes; >= 0) and optionally ``target_id``
    (the agent an action is about, e.g. a liquidation's borrower). Intents
    settle in agent-id order through the same checked path as a built-in's.
    Anything else raises :class:`BehaviourError` naming the behaviour and tick.

    The function must depend only on its arguments (no state kept between
    calls): the runs of an experiment call it from several threads, in an
    order that depends on timing.

    ``summary`` (default: the docstring's first line) is what ``tokensim
    list`` shows.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ValueError(f"behaviour name {name!r} must be an identifier (letters, digits, _)")
    params = dict(params or {})
    for k, v in params.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"behaviour {name!r}: parameter {k!r} must be a str with a number default, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"behaviour {name!r}: parameter {k!r} must default to a finite number, got {v!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or k == "agent_id":
            raise ValueError(f"behaviour {name!r}: parameter name {k!r} must be an identifier other than agent_id")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        doc = summary if summary is not None else (func.__doc__ or "").strip().split("\n")[0]
        _BEHAVIOURS[name] = Behaviour(name, func, {k: float(v) for k, v in params.items()}, doc or name)
        return func

    return register


def behaviours() -> dict[str, Behaviour]:
    """The Python behaviours registered in this interpreter, by name."""
    return dict(_BEHAVIOURS)


def _registered_behaviours() -> list[Behaviour]:
    return list(_BEHAVIOURS.values())


class Results:
    """A results directory written by ``tokensim run`` (or :func:`run`), with
    its tables as ``polars.DataFrame`` s (every part and shard, read in
    Rust and handed over through the Arrow C stream interface, on first use).
    """

    def __init__(self, dir: PathLike, _cleanup: bool = False) -> None:
        self.dir = Path(dir)
        # Checks it is a complete dataset (a clear error otherwise).
        _tokensim.table_files(str(self.dir), "runs")
        if _cleanup:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.dir), True)

    def __repr__(self) -> str:
        m = self.manifest
        return f"Results({str(self.dir)!r}: {m.get('runs')} runs x {m.get('ticks')} ticks, tables {', '.join(self.tables)})"

    @cached_property
    def manifests(self) -> list[dict[str, Any]]:
        """Every shard's manifest present, by file name."""
        names = sorted(p for p in os.listdir(self.dir) if re.fullmatch(r"manifest(-s\d+of\d+)?\.json", p))
        return [json.loads((self.dir / n).read_text()) for n in names]

    @property
    def manifest(self) -> dict[str, Any]:
        """The first shard's manifest: the scenario as resolved, seed, runs,
        files and row counts, totals and timings."""
        return self.manifests[0]

    @property
    def tables(self) -> list[str]:
        """Names of the tables this directory holds."""
        return [t for t in TABLES if _tokensim.table_files(str(self.dir), t)]

    def table(self, name: str) -> pl.DataFrame | None:
        """Table ``name`` (one of :data:`TABLES`), or ``None`` if the
        experiment wrote none (e.g. ``agents`` without snapshots)."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        cached = self.__dict__.setdefault("_tables", {})
        if name not in cached:
            stream = _tokensim.read_table(str(self.dir), name)
            cached[name] = None if stream is None else pl.DataFrame(stream)
        return cached[name]

    @property
    def runs(self) -> pl.DataFrame:
        """One row per run: ``run_id, point_id, variant, replicate, seed, ...``."""
        return self.table("runs")  # type: ignore[return-value]

    @property
    def ticks(self) -> pl.DataFrame:
        """One row per run and tick: ``run_id, tick``, the metrics, ``n_tx, n_rejected``."""
        return self.table("ticks")  # type: ignore[return-value]

    @property
    def events(self) -> pl.DataFrame | None:
        """One row per transaction (``None`` unless the run had ``events=True``
        or ``[output] events = true``)."""
        return self.table("events")

    @property
    def agents(self) -> pl.DataFrame | None:
        """Per-agent snapshots (``None`` unless ``snapshot_every > 0``)."""
        return self.table("agents")

    @property
    def violations(self) -> pl.DataFrame | None:
        """Broken invariants (``None`` if none broke)."""
        return self.table("violations")

    @property
    def properties(self) -> pl.DataFrame | None:
        """Per-run property verdicts (``None`` when the scenario declares none)."""
        return self.table("properties")

    @property
    def gate_failures(self) -> list[dict[str, Any]]:
        """Rows of the manifest's risk table whose property gate failed (what
        makes ``tokensim run`` exit 4), every shard."""
        return [r for m in self.manifests for r in m.get("properties", []) if r.get("gate") == "fail"]

    def to_pandas(self, name: str = "ticks") -> Any:
        """Table ``name`` as a ``pandas.DataFrame`` (needs pandas and pyarrow)."""
        df = self.table(name)
        if df is None:
            raise ValueError(f"{self.dir} has no {name} table; it has: {', '.join(self.tables)}")
        return df.to_pandas()

    def report(self, out: PathLike | None = None, force: bool = True) -> Path:
        """Writes the HTML report (as ``tokensim report``) to ``out`` (default
        ``DIR/report.html``) and returns its path."""
        return Path(_tokensim.report(str(self.dir), None if out is None else str(out), force))


def load(dir: PathLike) -> Results:
    """Opens an existing results directory."""
    return Results(dir)


def run(
    scenario: PathLike | Scenario,
    *,
    set: Mapping[str, Any] | None = None,
    runs: int | None = None,
    seed: int | None = None,
    ticks: int | None = None,
    jobs: int | None = None,
    out: PathLike | None = None,
    force: bool = False,
    quiet: bool = False,
    events: bool = False,
) -> Results:
    """Runs a scenario (a file or a :class:`Scenario`) like ``tokensim run``.

    ``set`` maps dotted paths to values (``--set``); ``runs``, ``seed``,
    ``ticks``, ``jobs`` and ``events`` (also write ``events.parquet``) are
    the CLI's flags. ``out=None`` writes to a
    temporary directory removed when the :class:`Results` is garbage
    collected; a path keeps the files (existing results there need
    ``force=True``). A progress bar shows on a terminal and in Jupyter unless
    ``quiet``. Python behaviours registered with :func:`behaviour` may be
    named by the scenario. Raises :class:`ScenarioError`,
    :class:`BehaviourError` or :class:`TokensimError`. A run whose invariants
    broke, or whose property gate failed (the CLI's exit codes 3 and 4),
    returns its complete results with a warning: see ``results.violations``
    and ``results.gate_failures``.
    """
    sc = scenario if isinstance(scenario, Scenario) else Scenario.load(os.fspath(scenario))
    cleanup = out is None
    directory = tempfile.mkdtemp(prefix="tokensim-") if cleanup else os.fspath(out)
    bar = Progress(quiet)
    try:
        written, _violations = _tokensim.run(
            sc,
            directory,
            list((set or {}).items()) + ([("output.events", True)] if events else []),
            seed,
            ticks,
            runs,
            jobs,
            force,
            _registered_behaviours(),
            bar.start,
            bar.update,
        )
    except BaseException:
        if cleanup:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        bar.close()
    results = Results(written, _cleanup=cleanup)
    # What makes the CLI exit 3 or 4 is a warning here: the results are complete.
    if _violations:
        warnings.warn(f"{_violations} invariant violations; see results.violations", stacklevel=2)
    for r in results.gate_failures:
        warnings.warn(
            f"property `{r['property']}` is not shown safe at point {r['point_id']}"
            f"{' variant ' + repr(r['variant']) if r['variant'] else ''}: {r['failures']} of {r['runs']} runs failed,"
            f" 95% upper bound {r['ci_high']:.3f} > max_failure_rate {r['max_failure_rate']}",
            stacklevel=2,
        )
    return results


def cli(*args: str) -> int:
    """Runs the ``tokensim`` command line in this interpreter, with this
    session's Python behaviours registered: ``tokensim.cli("list")``."""
    return _tokensim.cli(["tokensim", *args], _registered_behaviours())
