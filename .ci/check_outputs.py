#!/usr/bin/env python3
"""End-to-end check of tokensim's Parquet output, as an analyst would load it.

    python3 .ci/check_outputs.py BIN WORKDIR

Runs the `market` benchmark scenario (shared/benchmarks/market.md: 10,000
agents, 365 ticks, per-agent snapshots every 73 ticks) with the tokensim
binary BIN into WORKDIR/market, then:

* loads every output file with both Polars and pandas and checks its columns
  (names in order, integer ids as integers, nothing nested) and its row count
  against manifest.json;
* checks the model's invariants from the data itself: curve identity, price,
  DAI and TKN conservation, staking totals, no negative balances, and that the
  per-tick trade counts and volumes agree with the event log.

Prints one line per check and ends with `N passed, M failed`; exits 1 if any
check failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from checks import Checks, Failed, require  # .ci/checks.py, beside this script

# The benchmark model (shared/benchmarks/market.md).
N_AGENTS = 10_000
DAI_EACH = 1000.0
SLOPE = 1e-6  # m
EXPONENT = 1.0  # k
S0 = 1_000_000.0  # held by `hatch`, which is not an agent
R0 = SLOPE / (EXPONENT + 1) * S0 ** (EXPONENT + 1)  # 500,000 DAI
TOTAL_DAI = N_AGENTS * DAI_EACH + R0
TICKS = 365
SNAPSHOT_EVERY = 73
SNAPSHOT_TICKS = list(range(SNAPSHOT_EVERY, TICKS + 1, SNAPSHOT_EVERY))
REL = 1e-9

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "market.toml"

# Integer columns that may hold nulls (`events.target_id`: only liquidations
# name another agent).
NULLABLE_INTS = {"target_id"}

# Expected schema of every file: (column, Polars dtype) in order. String
# columns may also be dictionary-encoded (Categorical); see dtype_ok.
SCHEMAS: dict[str, list[tuple[str, type[pl.DataType]]]] = {
    "runs.parquet": [
        ("run_id", pl.UInt32),
        ("point_id", pl.UInt32),
        ("variant", pl.String),
        ("replicate", pl.UInt32),
        ("seed", pl.UInt64),
        ("n_agents", pl.UInt64),
        ("ticks", pl.UInt32),
    ],
    "ticks.parquet": [
        ("run_id", pl.UInt32),
        ("tick", pl.UInt32),
        ("supply", pl.Float64),
        ("reserve", pl.Float64),
        ("price", pl.Float64),
        ("funding_pool", pl.Float64),
        ("total_staked", pl.Float64),
        ("n_trades", pl.UInt64),
        ("volume_dai", pl.Float64),
        ("n_tx", pl.UInt64),
        ("n_rejected", pl.UInt64),
    ],
    "events.parquet": [
        ("run_id", pl.UInt32),
        ("tick", pl.UInt32),
        ("agent_id", pl.UInt64),
        ("contract", pl.String),
        ("action", pl.String),
        ("status", pl.String),
        ("reason", pl.String),
        ("amount_in", pl.Float64),
        ("amount_out", pl.Float64),
        ("fee", pl.Float64),
        ("replayed", pl.Boolean),
        ("target_id", pl.UInt64),
    ],
    "agents.parquet": [
        ("run_id", pl.UInt32),
        ("tick", pl.UInt32),
        ("agent_id", pl.UInt64),
        ("dai", pl.Float64),
        ("tkn", pl.Float64),
        ("staked", pl.Float64),
    ],
}
EXPECTED_FILES = sorted(SCHEMAS)


def rel_err(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """|a - e| / max(|a|, |e|), 0 where both are 0; NaN stays NaN (fails)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.maximum(np.abs(actual), np.abs(expected))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(actual - expected) / scale
    return np.where(scale == 0, 0.0, err)


def require_close(what: str, keys, actual, expected, rel: float = REL) -> str:
    """Asserts actual ≈ expected elementwise to `rel`; returns a summary."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    require(len(actual) > 0, f"{what}: nothing to compare")
    require(actual.shape == expected.shape, f"{what}: {actual.shape} values vs {expected.shape}")
    err = rel_err(actual, expected)
    bad = np.flatnonzero(~(err <= rel))  # NaN counts as bad
    if len(bad):
        keys = list(keys)
        shown = ", ".join(
            f"{keys[i]}: {float(actual[i])!r} vs {float(expected[i])!r} (rel {err[i]:.3g})" for i in bad[:5]
        )
        raise Failed(f"{what}: {len(bad)} of {len(actual)} off by more than {rel:g}: {shown}")
    return f"{len(actual)} values, max rel err {np.nanmax(err):.2g}"


def is_nested_pl(dtype: pl.DataType) -> bool:
    return bool(dtype.is_nested()) or dtype == pl.Object


def dtype_ok(dtype: pl.DataType, expected: type[pl.DataType]) -> bool:
    """Exact dtype, except that text may also come dictionary-encoded
    (Parquet dictionary of UTF-8 -> Polars Categorical/Enum)."""
    if expected == pl.String:
        return dtype.base_type() in (pl.String, pl.Categorical, pl.Enum)
    return dtype == expected


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python3 .ci/check_outputs.py BIN WORKDIR", file=sys.stderr)
        return 2
    binary = Path(sys.argv[1]).resolve()
    out = Path(sys.argv[2]).resolve() / "market"
    print(f"polars {pl.__version__}, pandas {pd.__version__}, numpy {np.__version__}", flush=True)

    checks = Checks()

    # --- the run -----------------------------------------------------------
    def market_run() -> str:
        cmd = [
            str(binary), "run", str(SCENARIO), "-o", str(out),
            "--ticks", str(TICKS), "--set", f"snapshot_every={SNAPSHOT_EVERY}", "--events", "--quiet", "--force",
        ]  # fmt: skip
        print("$ " + " ".join(cmd), flush=True)
        started = time.perf_counter()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wall = time.perf_counter() - started
        for stream in (proc.stdout, proc.stderr):
            if stream.strip():
                print(stream.rstrip(), flush=True)
        require(proc.returncode == 0, f"exit code {proc.returncode} after {wall:.2f} s "
                "(2 = error, 3 = invariant violations)")
        print(f"market run wall time: {wall:.2f} s ({N_AGENTS} agents x {TICKS} ticks, "
              f"{N_AGENTS * TICKS / wall / 1e6:.2f}M agent-ticks/s)", flush=True)
        return f"exit 0 in {wall:.2f} s"

    run_ok = checks.run("market run", market_run)
    if not (out / "manifest.json").is_file():
        checks.run("manifest.json written", lambda: require(False, f"no {out / 'manifest.json'}"))
        return checks.finish()
    if not run_ok:
        print("(the run failed but left a manifest: checking what it wrote)", flush=True)

    # --- the manifest ------------------------------------------------------
    manifest = json.loads((out / "manifest.json").read_text())

    def manifest_complete() -> str:
        require(manifest.get("status") == "complete", f"status is {manifest.get('status')!r}")
        require(manifest.get("runs") == 1, f"runs is {manifest.get('runs')!r}, expected 1")
        require(manifest.get("ticks") == TICKS, f"ticks is {manifest.get('ticks')!r}, expected {TICKS}")
        return (f"status complete, 1 run, {TICKS} ticks, seed {manifest.get('seed')}, "
                f"{manifest.get('transactions')} transactions, tokensim's own wall "
                f"{manifest.get('wall_seconds', float('nan')):.2f} s")

    checks.run("manifest complete", manifest_complete)

    def files_match_manifest() -> str:
        on_disk = sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "manifest.json")
        listed = sorted(manifest.get("files", {}))
        require(on_disk == listed, f"files on disk {on_disk} but manifest lists {listed}")
        require(not any(n.endswith(".partial") for n in on_disk), f"partial files left: {on_disk}")
        return ", ".join(f"{n}={manifest['files'][n]}" for n in listed)

    checks.run("files on disk == manifest files", files_match_manifest)

    def no_violations() -> str:
        path = out / "violations.parquet"
        if path.exists():
            v = pl.read_parquet(path)
            raise Failed(f"violations.parquet has {v.height} rows:\n{v.head(10)}")
        require(manifest.get("violations") == 0, f"manifest says {manifest.get('violations')} violations")
        return "no violations.parquet, manifest violations 0"

    checks.run("no invariant violations", no_violations)

    # --- every file, in both libraries -------------------------------------
    frames: dict[str, pl.DataFrame] = {}
    pframes: dict[str, pd.DataFrame] = {}
    for name in EXPECTED_FILES:
        path = out / name
        expected = SCHEMAS[name]
        names = [c for c, _ in expected]

        def load_polars(path=path, name=name, expected=expected, names=names) -> str:
            df = pl.read_parquet(path)
            frames[name] = df
            require(df.columns == names, f"columns {df.columns}, expected {names}")
            nested = [c for c, t in df.schema.items() if is_nested_pl(t)]
            require(not nested, f"nested columns {nested}")
            wrong = [(c, str(df.schema[c]), t.__name__) for c, t in expected if not dtype_ok(df.schema[c], t)]
            require(not wrong, f"dtypes (column, got, expected): {wrong}")
            ints = [c for c, t in expected if t in (pl.UInt32, pl.UInt64)]
            not_int = [c for c in ints if not df.schema[c].is_integer()]
            require(not not_int, f"not integer: {not_int}")
            return f"{df.height} rows, dtypes {', '.join(f'{c}:{t}' for c, t in df.schema.items())}"

        def load_pandas(path=path, name=name, expected=expected, names=names) -> str:
            df = pd.read_parquet(path)
            pframes[name] = df
            require(list(df.columns) == names, f"columns {list(df.columns)}, expected {names}")
            ints = [c for c, t in expected if t in (pl.UInt32, pl.UInt64) and c not in NULLABLE_INTS]
            not_int = [(c, str(df[c].dtype)) for c in ints if not pd.api.types.is_integer_dtype(df[c])]
            require(not not_int, f"not integer: {not_int}")
            # pandas turns an integer column with nulls into float64 unless
            # asked for nullable dtypes; with them it stays an exact integer.
            nullable = [c for c in names if c in NULLABLE_INTS]
            if nullable:
                nd = pd.read_parquet(path, columns=nullable, dtype_backend="numpy_nullable")
                bad = [(c, str(nd[c].dtype)) for c in nullable if not pd.api.types.is_integer_dtype(nd[c])]
                require(not bad, f"not integer with dtype_backend='numpy_nullable': {bad}")
            floats = [c for c, t in expected if t == pl.Float64]
            not_float = [(c, str(df[c].dtype)) for c in floats if not pd.api.types.is_float_dtype(df[c])]
            require(not not_float, f"not float: {not_float}")
            # Text may be object or str dtype depending on the pandas version,
            # or category if the file dictionary-encodes it; either way every
            # value must be a plain string.
            nested = []
            for c, t in expected:
                if t == pl.String:
                    values = df[c]
                    if isinstance(values.dtype, pd.CategoricalDtype):
                        values = values.cat.categories
                    kind = pd.api.types.infer_dtype(values, skipna=True)
                    if kind not in ("string", "empty"):
                        nested.append((c, kind))
                elif t == pl.Boolean:
                    if not pd.api.types.is_bool_dtype(df[c]):
                        nested.append((c, str(df[c].dtype)))
                elif df[c].dtype == object:
                    nested.append((c, "object"))
            require(not nested, f"nested or mixed columns: {nested}")
            return f"{len(df)} rows, dtypes {', '.join(f'{c}:{df[c].dtype}' for c in names)}"

        def rows(name=name) -> str:
            listed = manifest.get("files", {}).get(name)
            require(name in frames and name in pframes, "not loaded")
            got = (frames[name].height, len(pframes[name]))
            require(got == (listed, listed), f"polars {got[0]}, pandas {got[1]}, manifest {listed}")
            return f"{listed} rows in manifest, polars and pandas"

        if not path.exists():
            checks.run(f"{name} exists", lambda name=name: require(False, f"no {name}"))
            continue
        checks.run(f"{name} loads in polars", load_polars)
        checks.run(f"{name} loads in pandas", load_pandas)
        checks.run(f"{name} row count", rows)

    if not all(n in frames for n in EXPECTED_FILES):
        print("(some files did not load in polars: skipping the data checks)", flush=True)
        return checks.finish()

    runs, ticks, events, agents = (frames[n] for n in
                                   ("runs.parquet", "ticks.parquet", "events.parquet", "agents.parquet"))
    ticks = ticks.sort("run_id", "tick")
    snap_ticks = ticks.filter(pl.col("tick").is_in(SNAPSHOT_TICKS))

    # --- the data, in Polars -----------------------------------------------
    def runs_row() -> str:
        require(runs.height == 1, f"{runs.height} runs")
        r = runs.row(0, named=True)
        require(r["n_agents"] == N_AGENTS, f"n_agents {r['n_agents']}, expected {N_AGENTS}")
        require(r["ticks"] == TICKS, f"ticks {r['ticks']}, expected {TICKS}")
        return f"run_id {r['run_id']}, seed {r['seed']}, {r['n_agents']} agents, {r['ticks']} ticks"

    checks.run("runs: one run of the full model", runs_row)

    def ticks_once_each() -> str:
        got = ticks["tick"].to_list()
        require(got == list(range(1, TICKS + 1)), f"ticks are not 1..{TICKS} once each "
                f"({len(got)} rows, {ticks['tick'].n_unique()} distinct, min {min(got, default=None)}, "
                f"max {max(got, default=None)})")
        require(ticks["run_id"].n_unique() == 1, "more than one run_id in ticks")
        return f"1..{TICKS}, once each"

    checks.run("ticks: every tick once", ticks_once_each)

    def join_runs() -> str:
        joined = ticks.join(runs, on="run_id", how="left")
        require(joined.height == ticks.height, f"{joined.height} rows after join, ticks has {ticks.height}")
        unmatched = joined.filter(pl.col("n_agents").is_null()).height
        require(unmatched == 0, f"{unmatched} ticks rows match no run")
        inner = ticks.join(runs, on="run_id", how="inner")
        require(inner.height == TICKS, f"inner join has {inner.height} rows, expected {TICKS}")
        require(joined["n_agents"].unique().to_list() == [N_AGENTS], "n_agents after join")
        return f"{inner.height} rows, every tick matched to its run"

    checks.run("ticks join runs on run_id", join_runs)

    def curve_identity() -> str:
        expected = SLOPE / (EXPONENT + 1) * ticks["supply"].to_numpy() ** (EXPONENT + 1)
        return require_close("reserve vs m/(k+1)*supply^(k+1)", ticks["tick"], ticks["reserve"], expected)

    checks.run("curve identity reserve == m/2*supply^2 (every tick)", curve_identity)

    def price() -> str:
        expected = SLOPE * ticks["supply"].to_numpy() ** EXPONENT
        return require_close("price vs m*supply^k", ticks["tick"], ticks["price"], expected)

    checks.run("price == m*supply (every tick)", price)

    def snapshots_complete() -> str:
        per_tick = (agents.group_by("tick")
                    .agg(pl.len().alias("n"), pl.col("agent_id").n_unique().alias("ids"),
                         pl.col("agent_id").min().alias("lo"), pl.col("agent_id").max().alias("hi"))
                    .sort("tick"))
        require(per_tick["tick"].to_list() == SNAPSHOT_TICKS,
                f"snapshot ticks {per_tick['tick'].to_list()}, expected {SNAPSHOT_TICKS}")
        for r in per_tick.iter_rows(named=True):
            require(r["n"] == r["ids"] == N_AGENTS and r["lo"] == 0 and r["hi"] == N_AGENTS - 1,
                    f"tick {r['tick']}: {r['n']} rows, {r['ids']} distinct agents in {r['lo']}..{r['hi']}")
        return f"ticks {SNAPSHOT_TICKS}, agents 0..{N_AGENTS - 1} once each"

    checks.run("agents: a full snapshot every 73 ticks", snapshots_complete)

    sums = (agents.group_by("tick")
            .agg(pl.col("dai").sum(), (pl.col("tkn") + pl.col("staked")).sum().alias("tokens"),
                 pl.col("staked").sum())
            .join(snap_ticks, on="tick", how="inner")
            .sort("tick"))

    def dai_conserved() -> str:
        require(sums.height == len(SNAPSHOT_TICKS), f"{sums.height} snapshot ticks matched ticks")
        total = sums["dai"] + sums["reserve"] + sums["funding_pool"]
        return require_close(f"sum dai + reserve + funding_pool vs {TOTAL_DAI:,.0f}", sums["tick"],
                             total, np.full(sums.height, TOTAL_DAI))

    checks.run("DAI conserved at snapshot ticks", dai_conserved)

    def tkn_conserved() -> str:
        return require_close("sum (tkn + staked) + hatch vs supply", sums["tick"],
                             sums["tokens"] + S0, sums["supply"])

    checks.run("TKN conserved at snapshot ticks", tkn_conserved)

    def staked_total() -> str:
        return require_close("sum staked vs total_staked", sums["tick"], sums["staked"], sums["total_staked"])

    checks.run("sum staked == total_staked at snapshot ticks", staked_total)

    def non_negative() -> str:
        bad = []
        for label, df, cols in (
            ("agents", agents, ["dai", "tkn", "staked"]),
            ("ticks", ticks, ["supply", "reserve", "price", "funding_pool", "total_staked", "volume_dai"]),
            ("events (ok)", events.filter(pl.col("status") == "ok"), ["amount_in", "amount_out", "fee"]),
        ):
            for c in cols:
                n = df.filter(~(pl.col(c) >= 0)).height  # NaN counts as negative
                if n:
                    bad.append(f"{label}.{c}: {n} rows (min {df[c].min()})")
        require(not bad, "; ".join(bad))
        return (f"agents min dai {agents['dai'].min():.6g}, tkn {agents['tkn'].min():.6g}, "
                f"staked {agents['staked'].min():.6g}")

    checks.run("no negative balances", non_negative)

    def events_valid() -> str:
        actions = set(events["action"].unique().to_list())
        require(actions <= {"buy", "sell", "stake", "unstake"}, f"unknown actions {actions}")
        statuses = set(events["status"].unique().to_list())
        require(statuses <= {"ok", "rejected"}, f"unknown statuses {statuses}")
        bad_reason = events.filter((pl.col("status") == "ok") != pl.col("reason").is_null()).height
        require(bad_reason == 0, f"{bad_reason} events whose reason does not match their status")
        out_of_range = events.filter((pl.col("tick") < 1) | (pl.col("tick") > TICKS)
                                     | (pl.col("agent_id") >= N_AGENTS)).height
        require(out_of_range == 0, f"{out_of_range} events with tick or agent_id out of range")
        counts = events.group_by("action", "status").len().sort("action", "status")
        return ", ".join(f"{r['action']}/{r['status']} {r['len']}" for r in counts.iter_rows(named=True))

    checks.run("events: valid actions, statuses, reasons", events_valid)

    ok = pl.col("status") == "ok"
    per_tick = (events.group_by("tick")
                .agg((ok & pl.col("action").is_in(["buy", "sell"])).sum().alias("ev_trades"),
                     pl.when(ok & (pl.col("action") == "buy")).then(pl.col("amount_in"))
                     .when(ok & (pl.col("action") == "sell")).then(pl.col("amount_out") + pl.col("fee"))
                     .otherwise(0.0).sum().alias("ev_volume"),
                     ok.sum().alias("ev_ok"), (~ok).sum().alias("ev_rejected")))
    per_tick = (ticks.join(per_tick, on="tick", how="left")
                .with_columns(pl.col("ev_trades", "ev_ok", "ev_rejected").fill_null(0),
                              pl.col("ev_volume").fill_null(0.0))
                .sort("tick"))

    def n_trades() -> str:
        diff = per_tick.filter(pl.col("n_trades").cast(pl.Int64) != pl.col("ev_trades").cast(pl.Int64))
        require(diff.height == 0, f"{diff.height} ticks differ:\n{diff.select('tick', 'n_trades', 'ev_trades').head(5)}")
        return f"{TICKS} ticks, {int(per_tick['n_trades'].sum())} trades"

    checks.run("n_trades == ok buy/sell events (per tick)", n_trades)

    def volume() -> str:
        return require_close("volume_dai vs ok buys amount_in + ok sells (amount_out + fee)",
                             per_tick["tick"], per_tick["volume_dai"], per_tick["ev_volume"])

    checks.run("volume_dai == event amounts (per tick)", volume)

    def n_tx() -> str:
        diff = per_tick.filter((pl.col("n_tx").cast(pl.Int64) != pl.col("ev_ok").cast(pl.Int64))
                               | (pl.col("n_rejected").cast(pl.Int64) != pl.col("ev_rejected").cast(pl.Int64)))
        require(diff.height == 0, f"{diff.height} ticks differ:\n"
                f"{diff.select('tick', 'n_tx', 'ev_ok', 'n_rejected', 'ev_rejected').head(5)}")
        require(int(ticks["n_tx"].sum()) == manifest.get("transactions"), "manifest transactions")
        require(int(ticks["n_rejected"].sum()) == manifest.get("rejected"), "manifest rejected")
        return f"{int(ticks['n_tx'].sum())} settled, {int(ticks['n_rejected'].sum())} rejected"

    checks.run("n_tx/n_rejected == ok/rejected events (per tick)", n_tx)

    # --- the same, once more in pandas --------------------------------------
    pticks = pframes["ticks.parquet"].sort_values("tick")
    pagents = pframes["agents.parquet"]
    pevents = pframes["events.parquet"]

    def pandas_recheck() -> str:
        curve = require_close("pandas: curve identity", pticks["tick"], pticks["reserve"],
                              SLOPE / 2 * pticks["supply"].to_numpy() ** 2)
        dai = pagents.groupby("tick")["dai"].sum().rename("agents_dai").reset_index()
        m = dai.merge(pticks, on="tick", how="inner")
        require(len(m) == len(SNAPSHOT_TICKS), f"{len(m)} snapshot ticks after merge")
        require_close("pandas: DAI conservation", m["tick"],
                      m["agents_dai"] + m["reserve"] + m["funding_pool"], np.full(len(m), TOTAL_DAI))
        trades = (pevents[(pevents["status"] == "ok") & pevents["action"].isin(["buy", "sell"])]
                  .groupby("tick").size().reindex(pticks["tick"], fill_value=0))
        mismatch = int((trades.to_numpy() != pticks["n_trades"].to_numpy()).sum())
        require(mismatch == 0, f"pandas: n_trades differs on {mismatch} ticks")
        return f"curve ({curve}), DAI at {len(m)} snapshots, n_trades on {len(pticks)} ticks"

    checks.run("pandas re-check: curve, DAI, n_trades", pandas_recheck)

    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
