#!/usr/bin/env python3
"""A sweep's metric per parameter value, with Polars and matplotlib.

    python examples/analysis/polars_sweep.py DATASET OUT.png [--metric price] [--param PATH]

DATASET is a results directory of `tokensim run` on a scenario with a
`[sweep]` (e.g. scenarios/tribute_sweep.toml). The script loads every part
and shard of runs*.parquet and ticks*.parquet, joins ticks with runs on
`run_id`, and for each value of one swept parameter (the first one in the
manifest unless --param names another) draws the metric's mean across
replicates per tick with its 5–95 % band (linear-interpolation quantiles),
one panel per variant. Runs that share the parameter value but differ in
other swept values are pooled. Saves the figure as OUT.png.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

# Columns every runs.parquet has; a swept path that would clash gets `sweep_`.
FIXED = {"run_id", "point_id", "variant", "replicate", "seed", "n_agents", "ticks"}


def swept_column(path: str) -> str:
    """The runs.parquet column of a swept dotted path (`.` and the like → `_`)."""
    name = re.sub(r"[^0-9A-Za-z]", "_", path).lower()
    return f"sweep_{name}" if name in FIXED else name


def manifest(dataset: Path) -> dict:
    manifests = sorted(dataset.glob("manifest*.json"))
    if not manifests:
        sys.exit(f"{dataset}: no manifest.json: not a (complete) tokensim results directory")
    return json.loads(manifests[0].read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--metric", default="price", help="a column of ticks.parquet (default: price)")
    ap.add_argument("--param", help="swept path or column to plot against (default: the first swept)")
    args = ap.parse_args()

    meta = manifest(args.dataset)
    paths = meta.get("swept", [])
    if args.param:
        param = swept_column(args.param) if "." in args.param else args.param
    elif paths:
        param = swept_column(paths[0])
    else:
        param = None  # no sweep: one line per variant

    runs = pl.read_parquet(args.dataset / "runs*.parquet")
    ticks = pl.read_parquet(args.dataset / "ticks*.parquet", columns=["run_id", "tick", args.metric])
    df = ticks.join(runs, on="run_id", how="inner")
    keys = ([param] if param else []) + ["variant", "tick"]
    stats = (
        df.group_by(keys)
        .agg(
            pl.col(args.metric).mean().alias("mean"),
            pl.col(args.metric).quantile(0.05, interpolation="linear").alias("p5"),
            pl.col(args.metric).quantile(0.95, interpolation="linear").alias("p95"),
            pl.len().alias("replicates"),
        )
        .sort(keys)
    )

    # Variants in the scenario's order (the manifest's list), not sorted.
    seen = stats["variant"].unique().to_list()
    variants = [v for v in meta.get("variants", []) if v in seen] + [v for v in seen if v not in meta.get("variants", [])]
    values = stats[param].unique().sort().to_list() if param else [None]
    fig, axes = plt.subplots(1, len(variants), figsize=(6 * len(variants), 4.2), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, variant in zip(axes[0], variants):
        for i, value in enumerate(values):
            sel = stats.filter(pl.col("variant") == variant)
            if param:
                sel = sel.filter(pl.col(param) == value)
            colour = cmap(i / max(len(values) - 1, 1))
            label = f"{param} = {value}" if param else "all runs"
            ax.fill_between(sel["tick"], sel["p5"], sel["p95"], color=colour, alpha=0.2, linewidth=0)
            ax.plot(sel["tick"], sel["mean"], color=colour, label=label)
        ax.set_title(variant or "all runs")
        ax.set_xlabel("tick")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{args.metric} (mean, 5–95 % band)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{args.dataset.name}: {args.metric} per {param or 'variant'} (Polars)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"{args.out}: {len(values)} values x {len(variants)} variants, {df.height} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
