#!/usr/bin/env python3
"""The report and the analysis examples, checked as a person would see them.

    python3 .ci/report_check.py BIN WORKDIR

With the tokensim binary BIN, into WORKDIR:

1. runs a small sweep (scenarios/tribute_sweep.toml: 4 points x 2 variants x
   4 replicates of 200 agents, 60 ticks);
2. runs examples/analysis/polars_sweep.py and pandas_sweep.py on it and
   checks each PNG exists, is a real image of the expected size and is not
   blank;
3. writes `tokensim report` and opens it in headless Chromium: `--dump-dom`
   of a copy with a probe script appended (the report itself runs no script)
   asserts the page laid out its charts (every `svg.chart` and median path
   has a size, the number of series per metric equals the number of
   (point, variant) groups in the Parquet files, the diagram has its parts
   and flows), and `--screenshot` gives a PNG that must show the charts'
   colours;
4. recomputes with Polars, from the Parquet files alone, every median and
   5-95 % band and every final value (mean, p5, p95) and compares them with
   the numbers embedded in the report and shown in its final-value tables.

Prints one line per check and ends with `N passed, M failed`; exits 1 if any
check failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from checks import Checks, Failed, require  # .ci/checks.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "tribute_sweep.toml"
RUNS, TICKS, AGENTS = 4, 60, 200
GROUPS = 4 * 2  # points x variants of tribute_sweep
WINDOW = (1280, 2400)
# Tableau 10, the first colours of each panel's lines.
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def sh(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Failed(f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc


def close(actual, expected, rel: float, floor: float = 1e-12) -> np.ndarray:
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return np.abs(a - e) <= rel * np.maximum(np.maximum(np.abs(a), np.abs(e)), floor)


def png_check(path: Path, min_colours: int = 20) -> str:
    require(path.is_file(), f"{path} missing")
    size = path.stat().st_size
    require(size > 10_000, f"{path}: only {size} bytes")
    with Image.open(path) as im:
        require(im.format == "PNG", f"{path}: {im.format}, not PNG")
        w, h = im.size
        require(w >= 400 and h >= 300, f"{path}: {w}x{h}")
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    require(len(colours) >= min_colours, f"{path}: {len(colours)} colours: blank?")
    return f"{w}x{h}, {size} bytes, {len(colours)} colours"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise Failed("no chromium on PATH (apt-get install chromium)")


def chromium_args(browser: str, profile: Path) -> list[str]:
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
    ]  # fmt: skip


# A probe appended to a copy of the report: measures what Chromium laid out
# and writes it into the DOM, which --dump-dom then prints.
PROBE = """
<script>
(function () {
  const out = {charts: [], metrics: {}, diagram: {}, legend: 0};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const r = svg.getBoundingClientRect();
    out.charts.push([r.width, r.height]);
  }
  for (const sec of document.querySelectorAll('section.metric')) {
    const medians = [...sec.querySelectorAll('g.series path.median')].map(p => p.getBBox());
    const bands = [...sec.querySelectorAll('g.series path.band')].map(p => p.getBBox());
    out.metrics[sec.dataset.metric] = {
      series: sec.querySelectorAll('g.series').length,
      groups: [...sec.querySelectorAll('g.series')].map(g => g.dataset.group),
      drawn_medians: medians.filter(b => b.width > 0).length,
      drawn_bands: bands.filter(b => b.width > 0 && b.height >= 0).length,
      legend: sec.querySelectorAll('ul.legend li').length,
    };
  }
  const d = document.querySelector('svg.diagram');
  if (d) {
    const r = d.getBoundingClientRect();
    out.diagram = {parts: d.querySelectorAll('g.part').length, flows: d.querySelectorAll('g.flow').length,
                   width: r.width, height: r.height};
  }
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


class Cells(HTMLParser):
    """Rows of the final-value tables: {metric: {group: [cells]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.metric: str | None = None
        self.group: str | None = None
        self.cell: list[str] | None = None
        self.row: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "finals" in (a.get("class") or ""):
            self.metric = a.get("data-metric")
            self.tables[self.metric] = {}
        elif tag == "tr" and self.metric and a.get("data-group"):
            self.group, self.row = a["data-group"], []
        elif tag == "td" and self.group:
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.group:
            self.tables[self.metric][self.group] = self.row
            self.group = None
        elif tag == "table":
            self.metric = None


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python3 .ci/report_check.py BIN WORKDIR", file=sys.stderr)
        return 2
    binary = str(Path(sys.argv[1]).resolve())
    work = Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "sweep"
    report = work / "report.html"
    checks = Checks()
    state: dict = {}

    def sweep() -> str:
        started = time.perf_counter()
        sh([
            binary, "run", str(SCENARIO), "-o", str(data_dir), "--runs", str(RUNS), "--ticks", str(TICKS),
            "--set", f"populations.traders.count={AGENTS}", "--set", "output.events=false", "--quiet", "--force",
        ])  # fmt: skip
        return f"{GROUPS * RUNS} runs in {time.perf_counter() - started:.1f} s"

    if not checks.run("small sweep", sweep):
        return checks.finish()

    # --- the analysis examples ------------------------------------------------
    for lib in ("polars", "pandas"):

        def example(lib=lib) -> str:
            png = work / f"{lib}_sweep.png"
            png.unlink(missing_ok=True)
            script = ROOT / "examples" / "analysis" / f"{lib}_sweep.py"
            proc = sh([sys.executable, str(script), str(data_dir), str(png), "--metric", "funding_pool"])
            print(proc.stdout.rstrip(), flush=True)
            return png_check(png, min_colours=50)

        checks.run(f"examples/analysis/{lib}_sweep.py -> PNG", example)

    # --- the report -------------------------------------------------------------
    def write_report() -> str:
        started = time.perf_counter()
        sh([binary, "report", str(data_dir), "-o", str(report), "--force"])
        html = report.read_text()
        start = html.index('<script type="application/json" id="report-data">')
        start = html.index(">", start) + 1
        state["data"] = json.loads(html[start : html.index("</script>", start)])
        state["html"] = html
        return f"{len(html)} bytes in {time.perf_counter() - started:.2f} s"

    if not checks.run("tokensim report", write_report):
        return checks.finish()
    data = state["data"]

    # --- independent numbers with Polars ---------------------------------------
    runs = pl.read_parquet(data_dir / "runs*.parquet")
    ticks = pl.read_parquet(data_dir / "ticks*.parquet")
    joined = ticks.join(runs.select("run_id", "point_id", "variant"), on="run_id")
    joined = joined.with_columns(
        pl.when(pl.col("variant") == "")
        .then(pl.format("p{}", pl.col("point_id")))
        .otherwise(pl.format("p{}/{}", pl.col("point_id"), pl.col("variant")))
        .alias("group")
    )
    groups = joined["group"].unique().sort().to_list()
    metric_names = [m["name"] for m in data["metrics"]]

    def groups_match() -> str:
        require(len(groups) == GROUPS, f"{len(groups)} groups in the Parquet files, expected {GROUPS}")
        ours = sorted(g["id"] for g in data["groups"])
        require(ours == groups, f"report groups {ours} vs Parquet groups {groups}")
        expected = [c for c in ticks.columns if c not in ("run_id", "tick")]
        require(metric_names == expected, f"report metrics {metric_names} vs ticks columns {expected}")
        return f"{len(groups)} groups, {len(metric_names)} metrics"

    checks.run("report groups and metrics == Parquet", groups_match)

    def bands_match() -> str:
        n = 0
        for m in data["metrics"]:
            name = m["name"]
            expected = (
                joined.group_by("group", "tick")
                .agg(
                    pl.col(name).cast(pl.Float64).median().alias("median"),
                    pl.col(name).cast(pl.Float64).quantile(0.05, interpolation="linear").alias("p5"),
                    pl.col(name).cast(pl.Float64).quantile(0.95, interpolation="linear").alias("p95"),
                    pl.len().alias("n"),
                )
                .sort("group", "tick")
            )
            ours = pl.DataFrame(
                [
                    {"group": s["group"], "tick": t, "median": md, "p5": lo, "p95": hi, "n": k}
                    for s in m["series"]
                    for t, md, lo, hi, k in zip(s["ticks"], s["median"], s["p5"], s["p95"], s["n"])
                ],
                schema={"group": pl.String, "tick": pl.UInt32, "median": pl.Float64, "p5": pl.Float64,
                        "p95": pl.Float64, "n": pl.UInt32},
            ).sort("group", "tick")  # fmt: skip
            require(ours.height == expected.height == GROUPS * TICKS,
                    f"{name}: report has {ours.height} points, Parquet {expected.height}")  # fmt: skip
            both = ours.join(expected, on=["group", "tick"], suffix="_pl")
            require(both.height == ours.height, f"{name}: (group, tick) keys differ")
            require((both["n"] == both["n_pl"]).all(), f"{name}: replicate counts differ")
            for col in ("median", "p5", "p95"):
                ok = close(both[col], both[f"{col}_pl"], 1e-9)
                if not ok.all():
                    bad = both.filter(~pl.Series(ok)).head(5)
                    raise Failed(f"{name} {col}: {int((~ok).sum())} of {both.height} differ:\n{bad}")
                n += both.height
        return f"{n} medians and band edges equal to Polars (rel 1e-9)"

    checks.run("report medians and 5-95% bands == Polars", bands_match)

    def finals_match() -> str:
        last = joined.filter(pl.col("tick") == pl.col("tick").max())
        cells = Cells()
        cells.feed(state["html"])
        n = 0
        for m in data["metrics"]:
            name = m["name"]
            expected = {
                r["group"]: r
                for r in last.group_by("group")
                .agg(
                    pl.col(name).cast(pl.Float64).mean().alias("mean"),
                    pl.col(name).cast(pl.Float64).quantile(0.05, interpolation="linear").alias("p5"),
                    pl.col(name).cast(pl.Float64).quantile(0.95, interpolation="linear").alias("p95"),
                    pl.len().alias("n"),
                )
                .iter_rows(named=True)
            }
            require(len(m["finals"]) == GROUPS, f"{name}: {len(m['finals'])} final rows")
            table = cells.tables.get(name, {})
            require(len(table) == GROUPS, f"{name}: final-value table has {len(table)} rows")
            for f in m["finals"]:
                e = expected[f["group"]]
                require(f["tick"] == TICKS and f["n"] == e["n"] == RUNS, f"{name} {f['group']}: {f} vs {e}")
                for col in ("mean", "p5", "p95"):
                    require(close(f[col], e[col], 1e-9).all(), f"{name} {f['group']} {col}: {f[col]} vs Polars {e[col]}")
                # The table shows 6 significant digits: group, tick, n, mean, p5, p95.
                row = table[f["group"]]
                shown = [float(x) for x in row[3:6]]
                require(close(shown, [e["mean"], e["p5"], e["p95"]], 1e-5, floor=1e-9).all(),
                        f"{name} {f['group']}: table shows {row} vs Polars {e}")  # fmt: skip
                n += 1
        return f"{n} final rows (embedded and shown) equal to Polars"

    checks.run("final-value tables == Polars", finals_match)

    # --- Chromium ------------------------------------------------------------------
    def page_in_chromium() -> str:
        browser = chromium()
        probe = work / "report_probe.html"
        probe.write_text(state["html"].replace("</body>", PROBE + "</body>"))
        started = time.perf_counter()
        proc = sh(chromium_args(browser, work / "chrome-dom") + [
            "--virtual-time-budget=5000", "--dump-dom", probe.as_uri(),
        ], timeout=180)  # fmt: skip
        dom = proc.stdout
        marker = '<pre id="probe-result">'
        require(marker in dom, f"probe did not run; DOM starts:\n{dom[:500]}")
        start = dom.index(marker) + len(marker)
        import html as html_mod

        result = json.loads(html_mod.unescape(dom[start : dom.index("</pre>", start)]))
        charts = result["charts"]
        require(len(charts) == len(metric_names), f"{len(charts)} charts laid out, {len(metric_names)} metrics")
        require(all(w > 300 and h > 150 for w, h in charts), f"chart sizes {charts}")
        for name in metric_names:
            got = result["metrics"].get(name)
            require(got is not None, f"no section for {name}")
            require(got["series"] == len(groups), f"{name}: {got['series']} series, {len(groups)} groups in Parquet")
            require(sorted(got["groups"]) == groups, f"{name}: series {got['groups']}")
            require(got["drawn_medians"] == len(groups), f"{name}: {got['drawn_medians']} medians have a size")
            require(got["drawn_bands"] == len(groups), f"{name}: {got['drawn_bands']} bands have a size")
            require(got["legend"] == len(groups), f"{name}: {got['legend']} legend entries")
        d = result["diagram"]
        require(d.get("parts") == 5 and d.get("flows") == 5, f"diagram: {d}")
        require(d["width"] > 300 and d["height"] > 100, f"diagram size {d}")
        return (f"{len(charts)} charts x {len(groups)} series laid out, diagram {d['parts']} parts / "
                f"{d['flows']} flows, in {time.perf_counter() - started:.1f} s")  # fmt: skip

    checks.run("Chromium lays out the charts (series == groups)", page_in_chromium)

    def screenshot() -> str:
        browser = chromium()
        png = work / "report.png"
        png.unlink(missing_ok=True)
        sh(chromium_args(browser, work / "chrome-shot") + [
            f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={png}", report.as_uri(),
        ], timeout=180)  # fmt: skip
        detail = png_check(png, min_colours=200)
        with Image.open(png) as im:
            require(im.size == WINDOW, f"screenshot is {im.size}, asked {WINDOW}")
            rgb = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
        # The lines' colours must be on screen (legend swatches and median lines).
        seen = []
        for hex_colour in TAB10:
            c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
            if (np.abs(rgb - c).sum(axis=1) <= 12).sum() >= 50:
                seen.append(hex_colour)
        require(len(seen) == len(TAB10), f"line colours on screen: {seen}")
        return f"{detail}; all {len(seen)} line colours visible"

    checks.run("Chromium screenshot shows the charts", screenshot)
    return checks.finish()


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
