#!/usr/bin/env python3
"""Every shipped scenario's diagram, checked as a person would see it.

    python3 .ci/graph_check.py BIN WORKDIR [FAUCET_BIN]

For each `scenarios/*.toml` (and, with FAUCET_BIN, the example user crate's
`examples/user_crate/faucet_dips.toml`), writes `tokensim graph --format
svg` into WORKDIR/NAME.html, opens it in headless Chromium and measures what
Chromium laid out (`getBBox` of every element, through `--dump-dom` of a copy
with a probe script appended):

- every label's text fits inside its label box, every part's text inside
  its part's box, and the legend inside the drawing;
- no label box overlaps another label box or a part's box, and no two
  parts' boxes overlap;
- every flow is drawn (its path has a length) and has an arrowhead.

Then `--screenshot` gives WORKDIR/NAME.png, which must show the fill of every
kind of part drawn and the text's ink. Prints
one line per check and ends with `N passed, M failed`; exits 1 if any check
failed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from checks import Checks, Failed, require  # .ci/checks.py, beside this script
from report_check import chromium, chromium_args

ROOT = Path(__file__).resolve().parent.parent
# The parts' fills (src/report/diagram_svg.rs), by kind.
FILLS = {"population": (0xE8, 0xF1, 0xFB), "contract": (0xFD, 0xF3, 0xE1), "account": (0xEE, 0xF7, 0xEE)}
# Rounding of Chromium's boxes against the drawn coordinates (pixels).
SLACK = 0.5

PROBE = """
<script>
(function () {
  const box = (e) => { const b = e.getBBox(); return [b.x, b.y, b.width, b.height]; };
  const d = document.querySelector('svg.diagram');
  const out = {
    width: d.viewBox.baseVal.width, height: d.viewBox.baseVal.height,
    parts: [...d.querySelectorAll('g.part')].map(g => ({
      name: g.dataset.part, kind: g.dataset.kind, rect: box(g.querySelector('rect')),
      texts: [...g.querySelectorAll('text')].map(t => [t.textContent, box(t)]),
    })),
    labels: [...d.querySelectorAll('g.flow-label')].map(g => ({
      text: g.querySelector('text').textContent, rect: box(g.querySelector('rect')),
      text_box: box(g.querySelector('text')),
    })),
    flows: [...d.querySelectorAll('g.flow')].map(g => {
      const p = g.querySelector('path');
      return {from: g.dataset.from, to: g.dataset.to, length: p.getTotalLength(),
              heads: (p.hasAttribute('marker-start') ? 1 : 0) + (p.hasAttribute('marker-end') ? 1 : 0)};
    }),
    legend: box(d.querySelector('text.legend')),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def sh(cmd: list[str], timeout: float = 120) -> str:
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Failed(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc.stdout


def inside(inner: list[float], outer: list[float]) -> bool:
    x, y, w, h = inner
    X, Y, W, H = outer
    return x >= X - SLACK and y >= Y - SLACK and x + w <= X + W + SLACK and y + h <= Y + H + SLACK


def overlap(a: list[float], b: list[float]) -> bool:
    """Shared area (more than rounding), touching edges excluded."""
    return (
        a[0] + SLACK < b[0] + b[2] and b[0] + SLACK < a[0] + a[2]
        and a[1] + SLACK < b[1] + b[3] and b[1] + SLACK < a[1] + a[3]
    )  # fmt: skip


def measure(svg: str, html: Path, browser: str) -> dict:
    page = f"<!doctype html><html><head><meta charset='utf-8'></head><body style='margin:0'>{svg}</body></html>"
    html.write_text(page)
    probe = html.with_suffix(".probe.html")
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        dom = sh([*chromium_args(browser, Path(profile)), "--dump-dom", probe.as_uri()])
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    require(m is not None, "the probe wrote no result")
    return json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"'))


def check_geometry(g: dict) -> str:
    problems: list[str] = []
    for lab in g["labels"]:
        if not inside(lab["text_box"], lab["rect"]):
            problems.append(f"label text {lab['text']!r} {lab['text_box']} outside its box {lab['rect']}")
        for part in g["parts"]:
            if overlap(lab["rect"], part["rect"]):
                problems.append(f"label {lab['text']!r} overlaps part {part['name']!r}")
    for i, a in enumerate(g["labels"]):
        for b in g["labels"][i + 1 :]:
            if overlap(a["rect"], b["rect"]):
                problems.append(f"label {a['text']!r} overlaps label {b['text']!r}")
    for i, p in enumerate(g["parts"]):
        for text, tb in p["texts"]:
            if not inside(tb, p["rect"]):
                problems.append(f"part {p['name']!r}: text {text!r} {tb} outside its box {p['rect']}")
        for q in g["parts"][i + 1 :]:
            if overlap(p["rect"], q["rect"]):
                problems.append(f"part {p['name']!r} overlaps part {q['name']!r}")
    if not inside(g["legend"], [0, 0, g["width"], g["height"]]):
        problems.append(f"legend {g['legend']} outside the drawing {g['width']}x{g['height']}")
    for f in g["flows"]:
        if f["length"] <= 1 or f["heads"] == 0:
            problems.append(f"flow {f['from']} -> {f['to']}: length {f['length']}, {f['heads']} heads")
    require(len(g["labels"]) == len(g["flows"]), f"{len(g['labels'])} labels for {len(g['flows'])} flows")
    require(not problems, "\n  " + "\n  ".join(problems))
    return f"{len(g['parts'])} parts, {len(g['flows'])} flows, {len(g['labels'])} labels, {g['width']:.0f}x{g['height']:.0f}"


def main() -> int:
    bin_, work = Path(sys.argv[1]), Path(sys.argv[2])
    faucet = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    work.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    cases = [(bin_, s) for s in sorted((ROOT / "scenarios").glob("*.toml"))]
    if faucet is not None:
        cases.append((faucet, ROOT / "examples" / "user_crate" / "faucet_dips.toml"))
    checks = Checks()
    for binary, scenario in cases:
        name = scenario.stem
        html = work / f"{name}.html"
        state: dict = {}

        def geometry() -> str:
            svg = sh([str(binary), "graph", str(scenario), "--format", "svg"])
            state["svg"] = svg
            state["geometry"] = measure(svg, html, browser)
            return check_geometry(state["geometry"])

        def screenshot() -> str:
            require("geometry" in state, "not measured")
            png = work / f"{name}.png"
            w, h = max(int(state["geometry"]["width"]) + 20, 400), max(int(state["geometry"]["height"]) + 20, 300)
            with tempfile.TemporaryDirectory() as profile:
                sh([*chromium_args(browser, Path(profile)), f"--window-size={w},{h}", f"--screenshot={png}", html.as_uri()])
            with Image.open(png) as im:
                require(im.size == (w, h), f"{png}: {im.size}, not {(w, h)}")
                counts = {c: n for n, c in im.convert("RGB").getcolors(maxcolors=1 << 22)}
            # The boxes' fills and the text's ink are on the screen.
            kinds = {p["kind"] for p in state["geometry"]["parts"]}
            for kind in kinds:
                require(counts.get(FILLS[kind], 0) > 1000, f"{png}: hardly any {kind} fill {FILLS[kind]}")
            ink = sum(n for c, n in counts.items() if max(c) < 90)
            require(ink > 50 * len(state["geometry"]["parts"]), f"{png}: {ink} dark pixels: no text?")
            return f"{png}: {w}x{h}, fills of {sorted(kinds)}, {ink} dark pixels"

        checks.run(f"{name}: labels and boxes apart (Chromium getBBox)", geometry)
        checks.run(f"{name}: screenshot", screenshot)
    return checks.finish()


if __name__ == "__main__":
    sys.exit(main())
