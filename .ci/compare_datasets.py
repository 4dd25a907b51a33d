#!/usr/bin/env python3
"""Compare two tokensim result directories row for row.

    python3 .ci/compare_datasets.py A B

A and B are results directories written by `tokensim run`: one unsharded
(`ticks-p000.parquet`, `manifest.json`, ...), sharded (`ticks-s0of3-p000.parquet`,
`manifest-s0of3.json`, ...), or a mix of shards copied into one directory.

Checks, each counted as one test:

* per directory: every `manifest*.json` says `"status": "complete"`; the
  manifests form one complete set of shards (one shard count N, shards
  0..N-1 each once, their run counts adding up to `total_runs`); every
  Parquet file of the dataset is listed by exactly one manifest with the row
  count the file really has, and every file a manifest lists exists (so the
  leftovers of a killed shard, or shards of another sweep, are caught);
* per table (`runs`, `ticks`, `events`, `agents`, `violations`, read with the
  globs `TABLE*.parquet`): present in both or in neither; the same schema
  (names, order, types); the same rows once both sides are sorted by their key
  columns (`run_id`, `tick`, `agent_id` where present) and then by every other
  column, for a total order; floats must be exactly equal (NaN equals NaN,
  -0.0 does not equal 0.0).

Prints one line per check and closes with `N passed, M failed`. Exit status:
0 if all passed, 1 if any failed, 2 on bad usage. Needs polars >= 1.43
(see .ci/requirements.txt).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

import polars as pl

TABLES = ("runs", "ticks", "events", "agents", "violations")
KEYS = ("run_id", "tick", "agent_id")
# Dataset file names: TABLE[-sKofN][-pNNN].parquet
FILE_RE = re.compile(r"^(?P<table>[a-z]+)(?:-s(?P<k>\d+)of(?P<n>\d+))?(?:-p\d+)?\.parquet$")
MANIFEST_RE = re.compile(r"^manifest(?:-s(?P<k>\d+)of(?P<n>\d+))?\.json$")
SHOW_ROWS = 5


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok    {what}", flush=True)

    def fail(self, what: str, details: list[str] | str = ()) -> None:
        self.failed += 1
        print(f"FAIL  {what}", flush=True)
        if isinstance(details, str):
            details = details.splitlines()
        for line in details:
            print(f"        {line}", flush=True)


def table_files(directory: str, table: str) -> list[str]:
    return sorted(glob.glob(os.path.join(glob.escape(directory), f"{table}*.parquet")))


def parquet_rows(path: str) -> int:
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def check_manifests(report: Report, directory: str) -> None:
    """Completeness of one results directory, judged by its manifests."""
    label = f"{directory}: manifests"
    paths = sorted(glob.glob(os.path.join(glob.escape(directory), "manifest*.json")))
    if not paths:
        report.fail(f"{label}: complete", "no manifest*.json: no shard finished here")
        return
    problems: list[str] = []
    manifests: dict[str, dict] = {}
    for path in paths:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                manifests[name] = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"{name}: unreadable: {e}")
            continue
        status = manifests[name].get("status")
        if status != "complete":
            problems.append(f"{name}: status {status!r}, expected 'complete'")
    if problems:
        report.fail(f"{label}: {len(paths)} present, all complete", problems)
    else:
        report.ok(f"{label}: {len(paths)} present, all complete")

    # One complete set of shards.
    problems = []
    shards: dict[int, set[int]] = {}
    total_runs = set()
    runs_sum = 0
    for name, m in manifests.items():
        match = MANIFEST_RE.match(name)
        if not match:
            problems.append(f"{name}: unexpected manifest name")
            continue
        k, n = (int(match["k"]), int(match["n"])) if match["n"] else (0, 1)
        if m.get("shard", f"{k}/{n}") != f"{k}/{n}":
            problems.append(f"{name}: says shard {m.get('shard')!r}, its name says {k}/{n}")
        shards.setdefault(n, set()).add(k)
        total_runs.add(m.get("total_runs"))
        runs_sum += int(m.get("runs") or 0)
    if len(shards) > 1:
        problems.append(f"shards of different counts in one directory: N in {sorted(shards)}")
    for n, ks in shards.items():
        missing = sorted(set(range(n)) - ks)
        if missing:
            problems.append(f"N={n}: no manifest for shard(s) {missing} (unfinished or never run)")
    if len(total_runs) != 1:
        problems.append(f"manifests disagree on total_runs: {sorted(map(str, total_runs))}")
    elif runs_sum != next(iter(total_runs)):
        problems.append(f"shards hold {runs_sum} runs in all, manifests say total_runs = {next(iter(total_runs))}")
    if problems:
        report.fail(f"{label}: one complete set of shards", problems)
    else:
        (n,) = shards
        report.ok(f"{label}: one complete set of shards (N={n}, {runs_sum} runs)")

    # Files on disk versus files listed.
    problems = []
    listed: dict[str, tuple[str, int]] = {}
    for name, m in manifests.items():
        for fname, rows in (m.get("files") or {}).items():
            if fname in listed:
                problems.append(f"{fname}: listed by both {listed[fname][0]} and {name}")
            listed[fname] = (name, rows)
    on_disk = {
        os.path.basename(p)
        for table in TABLES
        for p in table_files(directory, table)
        if FILE_RE.match(os.path.basename(p))
    }
    for fname in sorted(on_disk - set(listed)):
        problems.append(f"{fname}: on disk but in no manifest (left by an unfinished or other run)")
    for fname in sorted(set(listed) - on_disk):
        if not os.path.exists(os.path.join(directory, fname)):
            problems.append(f"{fname}: listed by {listed[fname][0]} but missing")
    for fname in sorted(on_disk & set(listed)):
        rows = parquet_rows(os.path.join(directory, fname))
        if rows != listed[fname][1]:
            problems.append(f"{fname}: {rows} rows, {listed[fname][0]} says {listed[fname][1]}")
    if problems:
        report.fail(f"{label}: every data file listed, with its row count", problems)
    else:
        report.ok(f"{label}: every data file listed, with its row count ({len(on_disk)} files)")


def sortable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean)


def normalise(df: pl.DataFrame) -> pl.DataFrame:
    """Categoricals as strings, rows in a total order."""
    cats = [c for c, t in df.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    if cats:
        df = df.with_columns(pl.col(cats).cast(pl.String))
    keys = [k for k in KEYS if k in df.columns]
    rest = [c for c in df.columns if c not in keys and sortable(df.schema[c])]
    by = keys + rest
    if by:
        df = df.sort(by, nulls_last=True, maintain_order=True)
    return df


def float_equal(a: pl.Series, b: pl.Series) -> pl.Series:
    """Element-wise exact equality of floats: both null, or the same value with
    NaN equal to NaN (as in polars) and -0.0 different from 0.0."""
    a, b = a.cast(pl.Float64), b.cast(pl.Float64)
    same = a == b  # exact IEEE comparison; polars counts NaN == NaN as equal
    zero_sign_differs = (a == 0.0) & ((1.0 / a) != (1.0 / b))  # 1/-0.0 = -inf
    nan_both = a.is_nan() & b.is_nan()
    value_equal = ((same & ~zero_sign_differs) | nan_both).fill_null(False)
    return (a.is_null() & b.is_null()) | value_equal


def column_equal(a: pl.Series, b: pl.Series) -> pl.Series:
    if a.dtype.is_float():
        return float_equal(a, b)
    return (a.is_null() & b.is_null()) | (a == b).fill_null(False)


def describe_row(df: pl.DataFrame, i: int) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in df.row(i, named=True).items())


def compare_table(report: Report, table: str, dir_a: str, dir_b: str) -> None:
    label = f"table {table}"
    files_a, files_b = table_files(dir_a, table), table_files(dir_b, table)
    if not files_a and not files_b:
        print(f"skip  {label}: in neither directory", flush=True)
        return
    if not files_a or not files_b:
        where = dir_a if files_a else dir_b
        report.fail(f"{label}: present in both", f"only {where} has {table}*.parquet")
        return
    try:
        a = pl.read_parquet(files_a)
        b = pl.read_parquet(files_b)
    except Exception as e:  # noqa: BLE001 - report any reader error as a failure
        report.fail(f"{label}: readable", f"{type(e).__name__}: {e}")
        return

    if a.schema != b.schema:
        lines = [f"A: {dict(a.schema)}", f"B: {dict(b.schema)}"]
        report.fail(f"{label}: same schema", lines)
        return

    a, b = normalise(a), normalise(b)
    what = f"{label}: {a.height} rows x {a.width} columns equal ({len(files_a)} vs {len(files_b)} files)"
    lines: list[str] = []
    if a.height != b.height:
        lines.append(f"row counts differ: A has {a.height}, B has {b.height}")
        if "run_id" in a.columns:
            ca = a.group_by("run_id").len().rename({"len": "rows_a"})
            cb = b.group_by("run_id").len().rename({"len": "rows_b"})
            diff = (
                ca.join(cb, on="run_id", how="full", coalesce=True)
                .filter(pl.col("rows_a").fill_null(-1) != pl.col("rows_b").fill_null(-1))
                .sort("run_id")
            )
            lines.append(f"{diff.height} run_id(s) with different row counts:")
            lines.extend(str(diff.head(SHOW_ROWS * 4)).splitlines())
        report.fail(what, lines)
        return

    mismatched_rows = pl.Series("bad", [False] * a.height)
    for col in a.columns:
        eq = column_equal(a[col], b[col])
        n_bad = a.height - int(eq.sum())
        if n_bad:
            first = int((~eq).arg_true()[0])
            lines.append(
                f"column {col}: {n_bad} of {a.height} rows differ; first at sorted row {first}: "
                f"A={a[col][first]!r} B={b[col][first]!r}"
            )
            mismatched_rows = mismatched_rows | ~eq
    if lines:
        idx = mismatched_rows.arg_true().head(SHOW_ROWS).to_list()
        lines.append(f"first differing rows (of {int(mismatched_rows.sum())}):")
        for i in idx:
            lines.append(f"A[{i}]: {describe_row(a, i)}")
            lines.append(f"B[{i}]: {describe_row(b, i)}")
        report.fail(what, lines)
    else:
        report.ok(what)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    dir_a, dir_b = argv[1], argv[2]
    for d in (dir_a, dir_b):
        if not os.path.isdir(d):
            print(f"error: {d}: not a directory", file=sys.stderr)
            return 2
    print(f"comparing A={dir_a} with B={dir_b} (polars {pl.__version__})", flush=True)
    report = Report()
    check_manifests(report, dir_a)
    check_manifests(report, dir_b)
    for table in TABLES:
        compare_table(report, table, dir_a, dir_b)
    print(f"{report.passed} passed, {report.failed} failed", flush=True)
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
