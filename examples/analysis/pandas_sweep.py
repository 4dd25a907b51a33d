#!/usr/bin/env python3
"""A sweep's metric per parameter value, with pandas (pyarrow) and matplotlib.

    python examples/analysis/pandas_sweep.py DATASET OUT.png [--metric price] [--param PATH]

The same figure as polars_sweep.py, in pandas: every part and shard of
runs*.parquet and ticks*.parquet is read (ticks with only the columns
needed), ticks are merged with runs on `run_id`, and for each value of one
swept parameter (the first in the manifest unless --param names another)
the metric's mean across replicates per tick is drawn with its 5–95 % band
(linear-interpolation quantiles), one panel per variant. Saves OUT.png.
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
import pandas as pd  # noqa: E402

FIXED = {"run_id", "point_id", "variant", "replicate", "seed", "n_agents", "ticks"}


def swept_column(path: str) -> str:
    """The runs.parquet column of a swept dotted path (`.` and the like → `_`)."""
    name = re.sub(r"[^0-9A-Za-z]", "_", path).lower()
    return f"sweep_{name}" if name in FIXED else name


def read_table(dataset: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every part and shard of a table (`ticks.parquet`, `ticks-p003.parquet`, …)."""
    files = sorted(dataset.glob(f"{table}*.parquet"))
    if not files:
        sys.exit(f"{dataset}: no {table}*.parquet")
    return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--metric", default="price", help="a column of ticks.parquet (default: price)")
    ap.add_argument("--param", help="swept path or column to plot against (default: the first swept)")
    args = ap.parse_args()

    manifests = sorted(args.dataset.glob("manifest*.json"))
    if not manifests:
        sys.exit(f"{args.dataset}: no manifest.json: not a (complete) tokensim results directory")
    meta = json.loads(manifests[0].read_text())
    swept = meta.get("swept", [])
    if args.param:
        param = swept_column(args.param) if "." in args.param else args.param
    else:
        param = swept_column(swept[0]) if swept else None

    runs = read_table(args.dataset, "runs")
    ticks = read_table(args.dataset, "ticks", ["run_id", "tick", args.metric])
    df = ticks.merge(runs, on="run_id", how="inner")
    df["variant"] = df["variant"].astype(str)
    keys = ([param] if param else []) + ["variant", "tick"]
    grouped = df.groupby(keys, sort=True)[args.metric]
    stats = pd.DataFrame(
        {
            "mean": grouped.mean(),
            "p5": grouped.quantile(0.05, interpolation="linear"),
            "p95": grouped.quantile(0.95, interpolation="linear"),
        }
    ).reset_index()

    # Variants in the scenario's order (the manifest's list), not sorted.
    seen = list(dict.fromkeys(stats["variant"]))
    variants = [v for v in meta.get("variants", []) if v in seen] + [v for v in seen if v not in meta.get("variants", [])]
    values = sorted(stats[param].unique()) if param else [None]
    fig, axes = plt.subplots(1, len(variants), figsize=(6 * len(variants), 4.2), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, variant in zip(axes[0], variants):
        for i, value in enumerate(values):
            sel = stats[stats["variant"] == variant]
            if param:
                sel = sel[sel[param] == value]
            colour = cmap(i / max(len(values) - 1, 1))
            ax.fill_between(sel["tick"], sel["p5"], sel["p95"], color=colour, alpha=0.2, linewidth=0)
            ax.plot(sel["tick"], sel["mean"], color=colour, label=f"{param} = {value}" if param else "all runs")
        ax.set_title(variant or "all runs")
        ax.set_xlabel("tick")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{args.metric} (mean, 5–95 % band)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{args.dataset.name}: {args.metric} per {param or 'variant'} (pandas)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"{args.out}: {len(values)} values x {len(variants)} variants, {len(df)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
