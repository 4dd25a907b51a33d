#!/usr/bin/env python3
"""Properties and population metrics, checked from the output as an analyst
would: every margin recomputed in Polars from ticks.parquet, the risk table
in manifest.json recomputed from properties.parquet with an independent
Wilson interval, population statistics recomputed from agents.parquet, and
properties.parquet loaded by Polars, pandas and DuckDB as it is.

    python3 .ci/check_properties.py BIN WORKDIR

Prints one line per check and ends with `N passed, M failed`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl

from checks import Checks, require

ROOT = Path(__file__).resolve().parent.parent
TICKS = 60
RUNS = 6
REL = 1e-9

METRICS = """wealth_median = { population = "traders", of = "DAI + (TKN + staked) * curve.price", stat = "quantile", q = 0.5 }
dai_q25 = { population = "traders", of = "dai", stat = "quantile", q = 0.25 }
dai_gini = { population = "traders", of = "DAI", stat = "gini" }
wealth_sum = { population = "traders", of = "DAI + (TKN + staked) * curve.price", stat = "sum" }
staked_mean = { population = "traders", of = "staked", stat = "mean" }
tkn_min = { population = "traders", of = "TKN", stat = "min" }
tkn_max = { population = "traders", of = "TKN", stat = "max" }
poor_share = { population = "traders", of = "DAI", stat = "share_below", below = 900 }
"""
# Each population metric, and the same statistic computed by Polars from
# the agents' snapshots (`price` joined from ticks.parquet).
WEALTH = pl.col("dai") + (pl.col("tkn") + pl.col("staked")) * pl.col("price")
POPULATION = {
    "wealth_median": WEALTH.quantile(0.5, interpolation="linear"),
    "dai_q25": pl.col("dai").quantile(0.25, interpolation="linear"),
    "dai_gini": (pl.col("dai").sort() * (2 * pl.int_range(1, pl.len() + 1) - pl.len() - 1)).sum()
    / (pl.len() * pl.col("dai").sum()),
    "wealth_sum": WEALTH.sum(),
    "staked_mean": pl.col("staked").mean(),
    "tkn_min": pl.col("tkn").min(),
    "tkn_max": pl.col("tkn").max(),
    "poor_share": (pl.col("dai") < 900).mean(),
}

EXTRA = """
[variants.low]
"contracts.curve.entry_tribute" = 0.01
[variants.high]
"contracts.curve.entry_tribute" = 0.1

[properties.floor]
always = "price >= 1.03 * start(price)"
max_failure_rate = 0.9
[properties.late_high]
eventually = "price >= 1.06 * start(price)"
ticks = [30, 60]
[properties.pool_end]
at_end = "funding_pool >= 3_000"
[properties.calm]
always = "drawdown(price) <= 0.004 or sum(n_trades, 7) >= 7 * 30"
[properties.momentum]
always = "change(supply, 5) >= -0.01 and mean(price, 10) >= 0.98 * lag(price, 20)"
ticks = [2, 60]
"""


def scenario_text() -> str:
    text = (ROOT / "scenarios" / "market.toml").read_text()
    # The shipped properties stay; ours are added. Small and short for CI.
    text = text.replace("count = 10_000", "count = 400").replace("ticks = 365", f"ticks = {TICKS}")
    text = text.replace("snapshot_every = 0", "snapshot_every = 15")
    anchor = 'volume_dai = "curve.volume"\n'
    assert anchor in text
    text = text.replace(anchor, anchor + METRICS)
    return f"runs = {RUNS}\n{text}\n{EXTRA}"


def expected(t: pl.DataFrame) -> pl.DataFrame:
    """Each run's margins, from its tick rows, with Polars expressions only."""
    t = t.sort(["run_id", "tick"])
    p0 = pl.col("price").first().over("run_id")
    peak = pl.col("price").cum_max().over("run_id")
    lag = lambda c, n: pl.col(c).shift(n).over("run_id").fill_null(pl.col(c).first().over("run_id"))  # noqa: E731
    rows = t.with_columns(
        floor=pl.col("price") - 1.03 * p0,
        late_high=pl.col("price") - 1.06 * p0,
        calm=pl.max_horizontal(
            0.004 - (1 - pl.col("price") / peak),
            pl.col("n_trades").cast(pl.Float64).rolling_sum(7, min_samples=1).over("run_id") - 210,
        ),
        momentum=pl.min_horizontal(
            (pl.col("supply") / lag("supply", 5) - 1) - (-0.01),
            pl.col("price").rolling_mean(10, min_samples=1).over("run_id") - 0.98 * lag("price", 20),
        ),
        pool_end=pl.col("funding_pool") - 3000,
    )
    out = pl.concat(
        [
            rows.group_by("run_id").agg(pl.col("floor").min().alias("margin")).with_columns(property=pl.lit("floor")),
            rows.filter(pl.col("tick").is_between(30, 60))
            .group_by("run_id")
            .agg(pl.col("late_high").max().alias("margin"))
            .with_columns(property=pl.lit("late_high")),
            rows.filter(pl.col("tick") == TICKS)
            .group_by("run_id")
            .agg(pl.col("pool_end").first().alias("margin"))
            .with_columns(property=pl.lit("pool_end")),
            rows.group_by("run_id").agg(pl.col("calm").min().alias("margin")).with_columns(property=pl.lit("calm")),
            rows.filter(pl.col("tick") >= 2)
            .group_by("run_id")
            .agg(pl.col("momentum").min().alias("margin"))
            .with_columns(property=pl.lit("momentum")),
        ]
    )
    return out.with_columns(pl.col("run_id").cast(pl.UInt32))


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) score interval, z = 1.959964."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> int:
    binary, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    path = work / "props.toml"
    path.write_text(scenario_text())
    out = work / "props"
    proc = subprocess.run([str(binary), "run", str(path), "-o", str(out), "--force", "--quiet"], capture_output=True, text=True)
    checks = Checks()

    def ran() -> str:
        # floor has a gate of 0.9: the exit code is 4 exactly when a group's
        # upper bound exceeds it (checked below against the table).
        require(proc.returncode in (0, 4), f"exit {proc.returncode}: {proc.stderr}")
        return f"exit {proc.returncode}"

    if not checks.run("the scenario runs", ran):
        return checks.finish()
    ticks = pl.read_parquet(out / "ticks*.parquet")
    props = pl.read_parquet(out / "properties*.parquet")
    runs = pl.read_parquet(out / "runs*.parquet")
    manifest = json.loads((out / "manifest.json").read_text())

    def loads_everywhere() -> str:
        pdf = pd.concat(pd.read_parquet(f) for f in sorted(out.glob("properties*.parquet")))
        db = duckdb.sql(f"select count(*), sum(held::int) from read_parquet('{out}/properties*.parquet')").fetchall()[0]
        require(list(props.columns) == ["run_id", "property", "held", "margin", "first_failure_tick", "value_at_failure"], str(props.columns))
        require(len(pdf) == len(props) == db[0] == RUNS * 2 * 8, f"rows: polars {len(props)}, pandas {len(pdf)}, duckdb {db[0]}")
        require(int(pdf["held"].sum()) == props["held"].sum() == db[1], "held counts differ between readers")
        return f"{len(props)} rows in Polars, pandas and DuckDB"

    def margins_match() -> str:
        want = expected(ticks)
        got = props.join(want, on=["run_id", "property"], how="inner", suffix="_polars")
        require(len(got) == len(want) == RUNS * 2 * 5, f"{len(got)} of {len(want)} margins matched")
        bad = got.filter(((pl.col("margin") - pl.col("margin_polars")).abs() > REL * pl.max_horizontal(pl.col("margin_polars").abs(), pl.lit(1.0))))
        require(bad.is_empty(), f"margins differ:\n{bad}")
        return f"{len(got)} margins equal Polars' to {REL:g}"

    def held_is_margin_non_negative() -> str:
        bad = props.filter(pl.col("margin").is_not_null() & (pl.col("held") != (pl.col("margin") >= 0)))
        require(bad.is_empty(), f"held != (margin >= 0):\n{bad}")
        fails = props.filter(~pl.col("held"))
        require(fails["first_failure_tick"].null_count() == 0, "a failure without its tick")
        require(props.filter(pl.col("held"))["first_failure_tick"].null_count() == props["held"].sum(), "a held property with a failure tick")
        n = len(fails)
        require(0 < n < len(props), f"{n} failures of {len(props)}: the check cannot tell held from failed")
        return f"{n} failures, every one with its tick"

    def first_failure_tick_of_always() -> str:
        t = ticks.sort(["run_id", "tick"]).with_columns(m=pl.col("price") - 1.03 * pl.col("price").first().over("run_id"))
        first = t.filter(pl.col("m") < 0).group_by("run_id").agg(pl.col("tick").min().alias("want"), pl.col("price").sort_by("tick").first().alias("lhs"))
        got = props.filter((pl.col("property") == "floor") & ~pl.col("held")).join(first.with_columns(pl.col("run_id").cast(pl.UInt32)), on="run_id")
        require((got["first_failure_tick"].cast(pl.Int64) == got["want"].cast(pl.Int64)).all(), f"{got}")
        require(((got["value_at_failure"] - got["lhs"]).abs() < 1e-12).all(), f"{got}")
        return f"{len(got)} runs"

    def risk_table_matches() -> str:
        joined = props.join(runs.select(["run_id", "point_id", "variant"]).with_columns(pl.col("run_id").cast(pl.UInt32)), on="run_id")
        agg = joined.group_by(["property", "point_id", "variant"]).agg(
            runs=pl.len(), failures=(~pl.col("held")).sum(), worst=pl.col("margin").min()
        )
        rows = [r for r in manifest["properties"] if r["property"] != "(mechanism invariants)"]
        require(len(rows) == len(agg) == 8 * 2, f"{len(rows)} manifest rows, {len(agg)} groups")
        gate_fails = 0
        for r in rows:
            a = agg.filter((pl.col("property") == r["property"]) & (pl.col("variant") == r["variant"]))
            require(len(a) == 1, f"no group for {r}")
            k, n = int(a["failures"][0]), int(a["runs"][0])
            require((r["failures"], r["runs"]) == (k, n), f"{r} vs {k}/{n}")
            lo, hi = wilson(k, n)
            require(abs(r["ci_low"] - lo) < 1e-12 and abs(r["ci_high"] - hi) < 1e-12, f"{r}: Wilson [{lo}, {hi}]")
            require(math.isclose(r["worst_margin"], a["worst"][0], rel_tol=1e-12, abs_tol=1e-12), f"{r} vs {a['worst'][0]}")
            if r.get("max_failure_rate") is not None and hi > r["max_failure_rate"]:
                gate_fails += 1
                require(r["gate"] == "fail", f"{r}")
        require((proc.returncode == 4) == (gate_fails > 0), f"exit {proc.returncode} with {gate_fails} failing gates")
        order = [r["variant"] for r in manifest["properties"]]
        require(order.index("low") < order.index("high"), "variants keep the scenario's order")
        return f"{len(rows)} rows; {gate_fails} gates failed, exit {proc.returncode}"

    def population_metrics_match() -> str:
        agents = pl.read_parquet(out / "agents*.parquet")
        snap = agents.join(ticks.select(["run_id", "tick", "price", *POPULATION]), on=["run_id", "tick"])
        got = snap.group_by(["run_id", "tick"]).agg(
            *[want.alias(f"want_{name}") for name, want in POPULATION.items()],
            *[pl.col(name).first() for name in POPULATION],
        )
        require(len(got) == RUNS * 2 * (TICKS // 15), f"{len(got)} snapshots")
        for name in POPULATION:
            diff = ((got[name] - got[f"want_{name}"]).abs() / got[f"want_{name}"].abs().clip(lower_bound=1.0)).max()
            require(diff < 1e-9, f"{name}: max relative difference {diff}")
        return f"{len(got)} snapshots: quantiles, Gini, sums, means, extremes and shares equal Polars'"

    checks.run("properties.parquet loads in Polars, pandas and DuckDB", loads_everywhere)
    checks.run("margins equal Polars over ticks.parquet", margins_match)
    checks.run("held == (margin >= 0); failures carry their tick", held_is_margin_non_negative)
    checks.run("always: first failing tick and its left-hand side", first_failure_tick_of_always)
    checks.run("manifest risk table == Polars counts and Wilson intervals; exit code", risk_table_matches)
    checks.run("population metrics == Polars over agents.parquet", population_metrics_match)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
