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
   of a copy with a probe script appended asserts the page laid out its
   charts (every trajectory series drawn, one trajectory panel per variant,
   each `by-parameter` chart one series per variant with a point per swept
   value, each `delta` chart one series per later variant), tick labels are
   at least 11 px at 1400 px width, hovering a chart shows a value and a
   legend click hides its series; `--screenshot` gives a PNG that must show
   the charts' colours;
4. recomputes with Polars, from the Parquet files alone, every median and
   5-95 % band, every final value (mean, p5, p95), every by-parameter point
   and every paired A/B difference (variant minus the first variant, same
   replicate) and compares them with the numbers embedded in the report and
   shown in the page;
5. runs every other shipped scenario small and screenshots its report
   (WORKDIR/shots/*.png, to look at), checking its charts laid out.

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
POINTS = 4  # swept values of tribute_sweep (a zip of two lists)
GROUPS = POINTS * 2  # points x variants of tribute_sweep
# Scenarios not made by `tokensim run` alone (calibration data sets).
SKIP = {"eth_calibration.toml"}
# Ticks of the small runs of the other scenarios: enough for their properties' windows.
SHIPPED_TICKS = {"lending_cascade.toml": 130}
WINDOW = (1280, 5200)  # tall enough for the properties section above the charts


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
  const out = {charts: [], containers: [], diagram: {}, min_label_px: 1e9, hover: {}, toggled: null};
  for (const svg of document.querySelectorAll('svg.chart')) {
    const r = svg.getBoundingClientRect();
    out.charts.push([r.width, r.height]);
    const scale = r.width / svg.viewBox.baseVal.width;
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      out.min_label_px = Math.min(out.min_label_px, parseFloat(getComputedStyle(t).fontSize) * scale);
    }
  }
  for (const c of document.querySelectorAll('[data-chart]')) {
    if (!c.querySelector('svg.chart')) continue;
    const series = [...c.querySelectorAll('g.series')];
    out.containers.push({
      kind: c.dataset.chart, metric: c.dataset.metric, facet: c.dataset.facet,
      keys: series.map(g => g.dataset.key),
      dots: series.map(g => g.querySelectorAll('circle.dot').length),
      drawn_medians: series.filter(g => { const p = g.querySelector('path.median'); return p && p.getBBox().width > 0; }).length,
      legend: [...c.querySelectorAll('ul.legend li')].map(li => li.dataset.key),
    });
  }
  // Hover the middle of the first chart of each kind: the tooltip shows values.
  for (const kind of ['trajectory', 'by-parameter', 'delta']) {
    const c = document.querySelector('[data-chart="' + kind + '"]');
    if (!c) continue;
    const plot = c.querySelector('g.plot').getBoundingClientRect();
    const ev = new MouseEvent('mousemove', {clientX: plot.left + plot.width / 2, clientY: plot.top + plot.height / 2, bubbles: true});
    c.querySelector('svg.chart').dispatchEvent(ev);
    const tip = document.querySelector('div.tip');
    out.hover[kind] = {text: tip ? tip.textContent : null, visible: !!tip && !tip.hidden};
  }
  // A legend click hides its series.
  const li = document.querySelector('[data-chart="trajectory"] ul.legend li');
  if (li) {
    li.click();
    const c = li.closest('[data-chart]');
    const g = [...c.querySelectorAll('g.series')].find(g => g.dataset.key === li.dataset.key);
    out.toggled = {hidden: getComputedStyle(g).display === 'none', others: [...c.querySelectorAll('g.series')].filter(x => getComputedStyle(x).display !== 'none').length};
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


def si_value(text: str) -> float:
    """A number as the page shows it (`1.8 M`, `45 k`, `-0.25`)."""
    text = text.strip()
    for suffix, mult in ((" G", 1e9), (" M", 1e6), (" k", 1e3)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * mult
    return float(text)


class Cells(HTMLParser):
    """Cells of the wide final-value table: {metric: {group: (attrs, texts)}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.cells: dict[str, dict[str, tuple[dict, str]]] = {}
        self.in_table = False
        self.group: str | None = None
        self.cell: tuple[dict, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "finals" in (a.get("class") or ""):
            self.in_table, self.tables = True, self.tables + 1
        elif tag == "tr" and self.in_table and a.get("data-group"):
            self.group = a["data-group"]
        elif tag == "td" and self.group and a.get("data-metric"):
            self.cell = (a, [])

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1].append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            attrs, text = self.cell
            self.cells.setdefault(attrs["data-metric"], {})[self.group] = (attrs, [t.strip() for t in text if t.strip()])
            self.cell = None
        elif tag == "tr":
            self.group = None
        elif tag == "table":
            self.in_table = False


def probe(browser: str, html: str, work: Path, name: str) -> dict:
    """The probe's measurements of `html` laid out by Chromium."""
    import html as html_mod

    page = work / f"{name}_probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    proc = sh(chromium_args(browser, work / f"chrome-{name}") + [
        "--window-size=1400,3000", "--virtual-time-budget=5000", "--dump-dom", page.as_uri(),
    ], timeout=180)  # fmt: skip
    dom = proc.stdout
    marker = '<pre id="probe-result">'
    require(marker in dom, f"probe did not run; DOM starts:\n{dom[:500]}")
    start = dom.index(marker) + len(marker)
    return json.loads(html_mod.unescape(dom[start : dom.index("</pre>", start)]))


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

    # Each run's value at the last tick, with its point, variant and replicate.
    last = joined.filter(pl.col("tick") == TICKS).join(runs.select("run_id", "replicate"), on="run_id")
    variants = json.loads((data_dir / "manifest.json").read_text())["variants"]
    drawn = [m for m in data["metrics"] if m["constant"] is None]

    def quantiles(col: str) -> list[pl.Expr]:
        x = pl.col(col).cast(pl.Float64)
        return [x.mean().alias("mean"), x.median().alias("median"),
                x.quantile(0.05, interpolation="linear").alias("p5"),
                x.quantile(0.95, interpolation="linear").alias("p95"), pl.len().alias("n")]  # fmt: skip

    def finals_match() -> str:
        cells = Cells()
        cells.feed(state["html"])
        require(cells.tables == 1, f"{cells.tables} final-value tables, expected one wide table")
        n = 0
        for m in data["metrics"]:
            name = m["name"]
            expected = {r["group"]: r for r in last.group_by("group").agg(quantiles(name)).iter_rows(named=True)}
            require(len(m["finals"]) == GROUPS, f"{name}: {len(m['finals'])} final rows")
            if m["constant"] is not None:
                require(name not in cells.cells, f"{name} is constant but has a column")
                continue
            table = cells.cells.get(name, {})
            require(len(table) == GROUPS, f"{name}: final-value table has {len(table)} cells")
            for f in m["finals"]:
                e = expected[f["group"]]
                require(f["tick"] == TICKS and f["n"] == e["n"] == RUNS, f"{name} {f['group']}: {f} vs {e}")
                for col in ("mean", "median", "p5", "p95"):
                    require(close(f[col], e[col], 1e-9).all(), f"{name} {f['group']} {col}: {f[col]} vs Polars {e[col]}")
                attrs, texts = table[f["group"]]
                exact = [float(attrs[f"data-{c}"]) for c in ("mean", "p5", "p95")]
                require(close(exact, [e["mean"], e["p5"], e["p95"]], 1e-9).all(), f"{name} {f['group']}: {attrs} vs {e}")
                # Shown as `mean`, then `p5 – p95` below: SI suffixes, 4 significant digits.
                require(len(texts) == 2, f"{name} {f['group']}: cell text {texts}")
                shown = [si_value(texts[0])] + [si_value(t) for t in texts[1].split(" \u2013 ")]
                for v, want in zip(shown, [e["mean"], e["p5"], e["p95"]]):
                    require(abs(v - want) <= 6e-4 * abs(want) + 1e-12, f"{name} {f['group']}: shows {texts} vs {e}")
                n += 1
        return f"{n} final cells (embedded, in data-* and shown) equal to Polars"

    checks.run("final-value table == Polars", finals_match)

    def by_parameter_match() -> str:
        n = 0
        for m in drawn:
            name = m["name"]
            expected = {
                (r["point_id"], r["variant"]): r
                for r in last.group_by("point_id", "variant").agg(quantiles(name)).iter_rows(named=True)
            }
            series = m["by_parameter"]
            require([s["key"] for s in series] == variants, f"{name}: by-parameter series {[s['key'] for s in series]} vs variants {variants}")
            for s in series:
                require(len(s["points"]) == POINTS, f"{name} {s['key']}: {len(s['points'])} points, {POINTS} swept values")
                require(s["x"] == sorted(s["x"]), f"{name} {s['key']}: x not ascending {s['x']}")
                for i, point in enumerate(s["points"]):
                    e = expected[(point, s["key"])]
                    for col in ("median", "p5", "p95"):
                        require(close(s[col][i], e[col], 1e-9).all(), f"{name} {s['key']} p{point} {col}: {s[col][i]} vs {e[col]}")
                    n += 1
        return f"{n} by-parameter points (median, 5-95 %) equal to Polars"

    checks.run("by-parameter values == Polars", by_parameter_match)

    def delta_match() -> str:
        n = 0
        base = last.filter(pl.col("variant") == variants[0])
        for m in drawn:
            name = m["name"]
            require([s["key"] for s in m["delta"]] == variants[1:], f"{name}: delta series {[s['key'] for s in m['delta']]}")
            for s in m["delta"]:
                pairs = (
                    last.filter(pl.col("variant") == s["key"])
                    .join(base, on=["point_id", "replicate"], suffix="_base")
                    .with_columns((pl.col(name).cast(pl.Float64) - pl.col(f"{name}_base").cast(pl.Float64)).alias("d"))
                )
                require(pairs.height == POINTS * RUNS, f"{name} {s['key']}: {pairs.height} pairs")
                expected = {r["point_id"]: r for r in pairs.group_by("point_id").agg(quantiles("d")).iter_rows(named=True)}
                require(len(s["points"]) == POINTS, f"{name} {s['key']}: {len(s['points'])} delta points")
                for i, point in enumerate(s["points"]):
                    e = expected[point]
                    require(s["n"][i] == e["n"] == RUNS, f"{name} {s['key']} p{point}: {s['n'][i]} pairs")
                    for col in ("median", "p5", "p95"):
                        require(close(s[col][i], e[col], 1e-9, floor=1e-9).all(),
                                f"{name} {s['key']} p{point} {col}: {s[col][i]} vs Polars {e[col]}")  # fmt: skip
                    n += 1
        return f"{n} paired differences (median, 5-95 %) equal to Polars"

    checks.run("A/B deltas == paired differences in Polars", delta_match)

    # --- Chromium ------------------------------------------------------------------
    def page_in_chromium() -> str:
        started = time.perf_counter()
        result = probe(chromium(), state["html"], work, "report")
        charts = result["charts"]
        require(all(w > 300 and h > 150 for w, h in charts), f"chart sizes {charts}")
        require(result["min_label_px"] >= 11, f"smallest chart text {result['min_label_px']:.1f} px")
        kinds: dict[str, list[dict]] = {}
        for c in result["containers"]:
            kinds.setdefault(c["kind"], []).append(c)
        for m in drawn:
            name = m["name"]
            traj = [c for c in kinds.get("trajectory", []) if c["metric"] == name]
            require(len(traj) == len(variants), f"{name}: {len(traj)} trajectory panels, {len(variants)} variants")
            keys = [k for c in traj for k in c["keys"]]
            require(sorted(keys) == groups, f"{name}: trajectory series {keys}")
            require(sum(c["drawn_medians"] for c in traj) == len(groups), f"{name}: medians with a size")
            require([k for c in traj for k in c["legend"]] == keys, f"{name}: legend != series")
            by = [c for c in kinds.get("by-parameter", []) if c["metric"] == name]
            require(len(by) == 1 and by[0]["keys"] == variants, f"{name}: by-parameter charts {by}")
            require(by[0]["dots"] == [POINTS] * len(variants), f"{name}: by-parameter points {by[0]['dots']}")
            delta = [c for c in kinds.get("delta", []) if c["metric"] == name]
            require(len(delta) == 1 and delta[0]["keys"] == variants[1:], f"{name}: delta charts {delta}")
            require(delta[0]["dots"] == [POINTS] * (len(variants) - 1), f"{name}: delta points {delta[0]['dots']}")
        for kind, hover in result["hover"].items():
            text = hover["text"] or ""
            require(hover["visible"] and any(ch.isdigit() for ch in text.split("\n", 1)[-1]),
                    f"hover on {kind}: {hover}")  # fmt: skip
        require(len(result["hover"]) == 3, f"hovered {sorted(result['hover'])}")
        t = result["toggled"]
        require(t and t["hidden"], f"legend click: {t}")
        d = result["diagram"]
        require(d.get("parts") == 5 and d.get("flows") == 6, f"diagram: {d}")
        require(d["width"] > 300 and d["height"] > 100, f"diagram size {d}")
        hover = result["hover"]["by-parameter"]["text"].replace("\n", " | ")
        return (f"{len(charts)} charts; {len(drawn)} metrics x ({len(variants)} trajectory panels, by-parameter "
                f"{len(variants)} x {POINTS} points, delta); labels >= {result['min_label_px']:.1f} px; "
                f"hover: {hover!r}; legend click hides; in {time.perf_counter() - started:.1f} s")  # fmt: skip

    checks.run("Chromium lays out the charts, hover and legend work", page_in_chromium)

    def offline() -> str:
        import re

        refs = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", state["html"], flags=re.I)
        require(not refs, f"external references: {refs[:5]}")
        return "no http(s):// or // src/href"

    checks.run("report has no external resources", offline)

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
        # The lines' colours of the first metric's charts must be on screen.
        import re

        first = state["html"].index(f'<section class="metric" data-metric="{drawn[0]["name"]}"')
        section = state["html"][first : state["html"].index("</section>", first)]
        colours = sorted(set(re.findall(r'class="swatch" style="background:(#[0-9a-f]{6})"', section)))
        seen = []
        for hex_colour in colours:
            c = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
            if (np.abs(rgb - c).sum(axis=1) <= 12).sum() >= 50:
                seen.append(hex_colour)
        require(len(seen) == len(colours) >= 4, f"line colours on screen: {seen} of {colours}")
        return f"{detail}; all {len(seen)} line colours of {drawn[0]['name']} visible"

    checks.run("Chromium screenshot shows the charts", screenshot)

    # --- every other shipped scenario, small, screenshotted to look at -----------------
    shots = work / "shots"
    shots.mkdir(exist_ok=True)
    for scenario in sorted((ROOT / "scenarios").glob("*.toml")):
        if scenario.name in SKIP or scenario == SCENARIO:
            continue

        def shipped(scenario=scenario) -> str:
            out = work / "scenarios" / scenario.stem
            sh([binary, "run", str(scenario), "-o", str(out), "--runs", "2", "--ticks", str(SHIPPED_TICKS.get(scenario.name, 40)),
                "--set", "output.events=false", "--quiet", "--force"], timeout=300)  # fmt: skip
            page = out / "report.html"
            sh([binary, "report", str(out), "-o", str(page), "--force", "--quiet"])
            html = page.read_text()
            result = probe(chromium(), html, work, scenario.stem)
            require(result["charts"] and all(w > 300 and h > 150 for w, h in result["charts"]),
                    f"chart sizes {result['charts']}")  # fmt: skip
            require(result["min_label_px"] >= 11, f"smallest chart text {result['min_label_px']:.1f} px")
            empty = [c for c in result["containers"] if c["kind"] == "trajectory" and c["drawn_medians"] == 0]
            require(not empty, f"empty trajectory charts: {empty[:3]}")
            png = shots / f"{scenario.stem}.png"
            sh(chromium_args(chromium(), work / "chrome-shot") + [
                "--window-size=1400,6000", f"--screenshot={png}", page.as_uri(),
            ], timeout=180)  # fmt: skip
            kinds = sorted({c["kind"] for c in result["containers"]})
            return f"{len(result['charts'])} charts ({', '.join(kinds)}); {png_check(png, min_colours=100)}"

        checks.run(f"{scenario.name}: report laid out, screenshot", shipped)
    return checks.finish()


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
