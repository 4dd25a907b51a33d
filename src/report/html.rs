//! HTML assembly: one self-contained page (inline CSS, SVG and a small
//! script for hover values and legend toggles; no network), with the
//! numbers it shows embedded as JSON in
//! `<script type="application/json" id="report-data">` for the script,
//! tools and tests.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::aggregate::{Group, MetricSummary, value_text};
use super::diagram::Diagram;
use super::format::short_number;
use super::markup::esc;
use super::metric_section::{self, Context};
use super::read::ViolationRow;
use super::sweep::{AtTick, Layout};
use crate::error::Error;
use crate::output::Manifest;

/// Violations listed in the page at most (all are in the JSON count and in
/// `violations.parquet`).
pub const MAX_VIOLATION_ROWS: usize = 10_000;

/// Points drawn per series at most; longer runs are thinned to every k-th
/// tick (the last always kept).
pub const MAX_POINTS: usize = 600;

/// `1 run`, `3 runs`.
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Everything a page shows.
pub struct Page<'a> {
    /// The dataset's directory, as given.
    pub dataset: String,
    /// First shard's manifest.
    pub manifest: &'a Manifest,
    /// Shards present / expected.
    pub shards: (usize, usize),
    /// Groups in order.
    pub groups: &'a [Group],
    /// Metrics summarised.
    pub metrics: &'a [MetricSummary],
    /// Every violation.
    pub violations: &'a [ViolationRow],
    /// Group of each violation's run (index into `groups`), if known.
    pub violation_groups: Vec<Option<usize>>,
    /// Lines per chart at most.
    pub max_lines: usize,
    /// Rows of `ticks` read.
    pub rows: usize,
    /// Runs read.
    pub runs: usize,
    /// The stock-and-flow diagram, if the manifest records one.
    pub diagram: Option<&'a Diagram>,
    /// Remarks for the top of the page.
    pub notes: Vec<String>,
    /// The properties' risk, when the scenario declares properties.
    pub properties: Option<(&'a super::properties::PropertiesSummary, &'a super::aggregate::Groups)>,
    /// The sweep's x axis and facets.
    pub layout: &'a Layout,
    /// Per metric: the statistics at the compared tick.
    pub at: &'a [AtTick],
    /// The compared tick: `Some(T)` with `--tick T`, `None` for each run's last.
    pub tick: Option<u32>,
    /// Units of the metrics that declare one.
    pub units: &'a BTreeMap<String, String>,
}

impl Page<'_> {
    /// A metric's title: its name and unit, `price (USD)`.
    pub fn title(&self, metric: &str) -> String {
        match self.units.get(metric) {
            Some(u) => format!("{metric} ({u})"),
            None => metric.to_string(),
        }
    }

    /// The compared tick in words.
    pub fn tick_text(&self) -> String {
        match self.tick {
            Some(t) => format!("at tick {t}"),
            None => "at the last tick".into(),
        }
    }
}

/// A metric with one value in every run at every tick (`n_rejected` all
/// zero): its value, listed in one line instead of a chart.
pub fn constant(m: &MetricSummary) -> Option<f64> {
    let mut values = m.series.iter().flat_map(|s| s.p5.iter().chain(&s.p95).chain(&s.median)).copied();
    let first = values.next()?;
    (first.is_finite() && values.all(|v| v == first)).then_some(first)
}

/// Every-k-th thinning that keeps a series under [`MAX_POINTS`].
pub fn stride(metrics: &[MetricSummary]) -> usize {
    let longest = metrics.iter().flat_map(|m| m.series.iter().map(|s| s.ticks.len())).max().unwrap_or(0);
    longest.div_ceil(MAX_POINTS).max(1)
}

/// The page's style sheet (shared with the stress and calibration reports).
pub(crate) const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
main{max-width:1240px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{margin-top:1.8em;border-bottom:2px solid #dde3ea;padding-bottom:.2em}
h3{margin:1.2em 0 .4em}.sub{color:#5b6670;margin:.2em 0 1em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:.92em}dl.meta dt{color:#5b6670}dl.meta dd{margin:0}
.notes{background:#fff8e6;border:1px solid #f0d9a0;border-radius:6px;padding:8px 14px;font-size:.92em}
table{border-collapse:collapse;font-size:.88em;background:#fff;margin:.4em 0 1em}
th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef1f5}
.panels{display:flex;flex-wrap:wrap;gap:14px}.panel{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:6px;box-sizing:border-box}
.panel.small{flex:0 1 592px;max-width:592px}.panel.small ul.legend{display:block}
svg.chart{max-width:100%;height:auto;display:block}svg.diagram{max-width:100%;height:auto;background:#fff;border:1px solid #dde3ea;border-radius:6px}
ul.legend{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:2px 14px;font-size:.82em;max-width:100%}
ul.legend li{white-space:nowrap}.swatch{display:inline-block;width:18px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
pre{background:#fff;border:1px solid #dde3ea;padding:10px;overflow:auto;font-size:.85em}
.ok{color:#2f855a;font-weight:600}.bad{color:#c53030;font-weight:600}
tr.pass td:first-child{border-left:5px solid #2f855a}tr.fail td:first-child{border-left:5px solid #c53030}tr.warn td:first-child{border-left:5px solid #d69e2e}
tr.fail{background:#fff1f1}.property{margin-bottom:1.4em}figure.margins{margin:.2em 0 1em}figure.margins figcaption{color:#5b6670;font-size:.85em}
footer{color:#5b6670;font-size:.85em;margin-top:3em}
.wide{overflow-x:auto}table.finals td{white-space:nowrap}table.finals td small{color:#5b6670}p.constant{color:#5b6670}
ul.legend li[data-key]{cursor:pointer}ul.legend li.off{opacity:.35;text-decoration:line-through}g.series.off{display:none}
.tip{position:fixed;z-index:10;white-space:pre;background:#fff;border:1px solid #9aa5b1;border-radius:4px;padding:4px 8px;font-size:12px;pointer-events:none;box-shadow:0 2px 6px rgba(0,0,0,.15)}
"#;

/// The page's script: a tooltip with the values under the pointer, and
/// legend entries that hide or show their series. Reads `#report-data`.
const SCRIPT: &str = include_str!("report.js");

/// The whole page.
pub fn page(p: &Page<'_>) -> Result<String, Error> {
    let m = p.manifest;
    let stride = stride(p.metrics);
    let mut notes = p.notes.clone();
    if stride > 1 {
        notes.push(format!(
            "Runs have up to {} ticks: charts draw one tick in {stride} (and the last); the final-value tables use every replicate at the last tick.",
            p.metrics.iter().flat_map(|m| m.series.iter().map(|s| s.ticks.len())).max().unwrap_or(0)
        ));
    }
    let lines_per_variant = |v: &String| p.groups.iter().filter(|g| g.variant == *v).count();
    if p.layout.x_param.is_some() && p.layout.variants.iter().any(|v| lines_per_variant(v) > p.max_lines) {
        notes.push(format!(
            "Variants have more (parameter point) lines than --max-lines {}: trajectories are split by swept value into {} panels sharing the y axis.",
            p.max_lines,
            metric_section::panels(p.groups, p.layout, p.max_lines).len()
        ));
    }

    let mut h = String::with_capacity(1 << 20);
    let title = if m.scenario_name.is_empty() { "scenario".to_string() } else { m.scenario_name.clone() };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{}<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>tokensim report: {}</title><style>{CSS}</style></head><body><main>",
        crate::output::dataset::REPORT_MARKER,
        esc(&title)
    );
    let _ = write!(h, "<h1>tokensim report: {}</h1>", esc(&title));
    if let Some(d) = m.scenario.get("description").and_then(|d| d.as_str()).filter(|d| !d.is_empty()) {
        let _ = write!(h, "<p class=\"sub\">{}</p>", esc(d));
    }
    let replicates: Vec<usize> = p.groups.iter().map(|g| g.runs).collect();
    let reps = match (replicates.iter().min(), replicates.iter().max()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}–{b}"),
        _ => "0".into(),
    };
    let meta: Vec<(&str, String)> = vec![
        ("dataset", p.dataset.clone()),
        ("scenario file", m.scenario_file.clone()),
        (
            "runs",
            format!(
                "{} ({} × {} × {reps} {})",
                p.runs,
                count(m.points as usize, "point"),
                count(m.variants.len().max(1), "variant"),
                if reps == "1" { "replicate" } else { "replicates" }
            ),
        ),
        ("ticks", m.ticks.to_string()),
        ("master seed", m.seed.to_string()),
        ("shards", format!("{} of {}", p.shards.0, p.shards.1)),
        ("rows read", format!("{} tick rows", p.rows)),
        ("transactions", format!("{} ({} rejected)", m.transactions, m.rejected)),
        ("tokensim", m.version.clone()),
    ];
    h.push_str("<dl class=\"meta\">");
    for (k, v) in meta {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    h.push_str("</dl>");
    if !notes.is_empty() {
        h.push_str("<div class=\"notes\"><ul>");
        for n in &notes {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul></div>");
    }
    let properties_link =
        if p.properties.is_some() { "<a href=\"#properties\">Properties</a> · " } else { "" };
    let _ = write!(
        h,
        "<nav><p>{properties_link}<a href=\"#scenario\">Scenario</a> · <a href=\"#diagram\">System diagram</a> · <a href=\"#trajectories\">Trajectories</a> · <a href=\"#finals\">Final values</a> · <a href=\"#violations\">Invariant violations ({})</a></p></nav>",
        p.violations.len()
    );

    if let Some((summary, groups)) = p.properties {
        super::properties::section(&mut h, summary, groups);
    }
    scenario_section(&mut h, p);
    diagram_section(&mut h, p);
    trajectories_section(&mut h, p, stride)?;
    finals_section(&mut h, p);
    violations_section(&mut h, p);

    let _ = write!(
        h,
        "<footer><p>Median and 5–95 % band across replicates of each (parameter point, variant) at every tick; quantiles interpolate linearly between order statistics (numpy's default, Polars' <code>interpolation=\"linear\"</code>); NaN values are left out. Generated by tokensim {} from the Parquet files listed in the manifest. The numbers are embedded below as JSON (<code>#report-data</code>).</p></footer>",
        esc(env!("CARGO_PKG_VERSION"))
    );
    h.push_str("</main><script type=\"application/json\" id=\"report-data\">");
    h.push_str(&data_json(p, stride)?.replace("</", "<\\/"));
    h.push_str("</script><script>");
    h.push_str(SCRIPT);
    h.push_str("</script></body></html>\n");
    Ok(h)
}

fn scenario_section(h: &mut String, p: &Page<'_>) {
    let m = p.manifest;
    h.push_str("<section id=\"scenario\"><h2>Scenario and parameters</h2>");
    if m.swept.is_empty() {
        h.push_str("<p>No sweep: every run uses the scenario's values.</p>");
    } else {
        let _ = write!(
            h,
            "<p>Swept: {}.</p>",
            m.swept.iter().map(|s| format!("<code>{}</code>", esc(s))).collect::<Vec<_>>().join(", ")
        );
    }
    h.push_str("<table class=\"groups\"><thead><tr><th>group</th><th>point</th>");
    if !m.variants.is_empty() {
        h.push_str("<th>variant</th>");
    }
    for s in &m.swept {
        let _ = write!(h, "<th>{}</th>", esc(s));
    }
    h.push_str("<th>runs</th></tr></thead><tbody>");
    for g in p.groups {
        let _ = write!(
            h,
            "<tr data-group=\"{}\"><td>{}</td><td class=\"num\">{}</td>",
            esc(&g.id),
            esc(&g.id),
            g.point_id
        );
        if !m.variants.is_empty() {
            let _ = write!(h, "<td>{}</td>", esc(&g.variant));
        }
        for (_, v) in &g.params {
            let _ = write!(h, "<td class=\"num\">{}</td>", esc(&value_text(v)));
        }
        let _ = write!(h, "<td class=\"num\">{}</td></tr>", g.runs);
    }
    h.push_str("</tbody></table>");
    if let Some(variants) = m.scenario.get("variants").and_then(|v| v.as_object()).filter(|v| !v.is_empty()) {
        h.push_str(
            "<h3>Variants</h3><table><thead><tr><th>variant</th><th>overrides</th></tr></thead><tbody>",
        );
        // In the scenario's order (the manifest's list), not the JSON map's.
        for name in &m.variants {
            let Some(overrides) = variants.get(name) else { continue };
            let text = overrides
                .as_object()
                .map(|o| o.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("; "))
                .unwrap_or_default();
            let _ = write!(h, "<tr><td>{}</td><td><code>{}</code></td></tr>", esc(name), esc(&text));
        }
        h.push_str("</tbody></table>");
    }
    let _ = write!(
        h,
        "<details><summary>Scenario as run (after command-line overrides)</summary><pre>{}</pre></details></section>",
        esc(&scenario_text(&m.scenario))
    );
}

/// The resolved scenario as TOML (JSON if it does not convert).
fn scenario_text(v: &serde_json::Value) -> String {
    fn strip(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(o) => serde_json::Value::Object(
                o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip(v))).collect(),
            ),
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    toml::to_string_pretty(&strip(v)).unwrap_or_else(|_| serde_json::to_string_pretty(v).unwrap_or_default())
}

fn diagram_section(h: &mut String, p: &Page<'_>) {
    h.push_str("<section id=\"diagram\"><h2>System diagram</h2>");
    match p.diagram {
        Some(d) => {
            h.push_str("<p>Stocks and flows as the scenario declares them (<code>tokensim graph</code>): arrows point the way value moves; each box lists what it holds at genesis.</p>");
            // At its own size, so its labels stay legible: wide ones scroll.
            h.push_str("<div style=\"overflow-x:auto\">");
            h.push_str(&super::diagram_svg::svg(d));
            h.push_str("</div>");
            let _ = write!(
                h,
                "<details><summary>Mermaid source</summary><pre>{}</pre></details>",
                esc(&super::graph::mermaid(d))
            );
        }
        None => h.push_str("<p>This dataset's manifest records no diagram (written by an older tokensim): run <code>tokensim graph SCENARIO</code>.</p>"),
    }
    h.push_str("</section>");
}

fn trajectories_section(h: &mut String, p: &Page<'_>, stride: usize) -> Result<(), Error> {
    h.push_str("<section id=\"trajectories\"><h2>Trajectories and the sweep</h2><p>Median (line) and 5–95 % band (shaded) across replicates, per tick; with a sweep, lines are coloured by the swept value (dark: low, light: high), one panel per variant. Next to them, each metric ");
    let _ = write!(
        h,
        "{} against the swept parameter (median and 5–95 % band over replicates, one line per variant) and, with variants, the difference of each variant to the first, paired by replicate. Hover a chart to read values; click a legend entry to hide its line.</p>",
        esc(&p.tick_text())
    );
    let constants: Vec<String> = p
        .metrics
        .iter()
        .filter_map(|m| {
            constant(m).map(|v| format!("<code>{}</code> = {}", esc(&m.name), esc(&short_number(v))))
        })
        .collect();
    if !constants.is_empty() {
        let _ = write!(
            h,
            "<p class=\"constant\">Constant in every run and tick (not drawn): {}.</p>",
            constants.join(", ")
        );
    }
    let c =
        Context { groups: p.groups, layout: p.layout, max_lines: p.max_lines, stride, tick: p.tick_text() };
    for (metric, at) in p.metrics.iter().zip(p.at) {
        if constant(metric).is_none() {
            metric_section::section(h, &c, metric, at, &p.title(&metric.name))?;
        }
    }
    h.push_str("</section>");
    Ok(())
}

/// One wide table: a row per group, a column per (non-constant) metric,
/// each cell the mean over replicates with the 5–95 % band below; the
/// exact numbers in `data-*` attributes.
fn finals_section(h: &mut String, p: &Page<'_>) {
    let _ = write!(
        h,
        "<section id=\"finals\"><h2>Final values</h2><p>Each group's value {} across replicates: mean, and the 5–95 % band below it.</p><div class=\"wide\"><table class=\"finals\"><thead><tr><th>group</th><th>runs</th>",
        esc(&p.tick_text())
    );
    let shown: Vec<usize> = (0..p.metrics.len()).filter(|&i| constant(&p.metrics[i]).is_none()).collect();
    for &i in &shown {
        let _ = write!(
            h,
            "<th data-metric=\"{}\">{}</th>",
            esc(&p.metrics[i].name),
            esc(&p.title(&p.metrics[i].name))
        );
    }
    h.push_str("</tr></thead><tbody>");
    for (g, grp) in p.groups.iter().enumerate() {
        let _ = write!(
            h,
            "<tr data-group=\"{}\"><td>{}</td><td class=\"num\">{}</td>",
            esc(&grp.id),
            esc(&grp.label),
            grp.runs
        );
        for &i in &shown {
            match p.at[i].groups[g] {
                Some(s) => {
                    let _ = write!(
                        h,
                        "<td class=\"num\" data-metric=\"{}\" data-n=\"{}\" data-mean=\"{}\" data-p5=\"{}\" data-p95=\"{}\">{}<br><small>{} – {}</small></td>",
                        esc(&p.metrics[i].name),
                        s.n,
                        s.mean,
                        s.p5,
                        s.p95,
                        short_number(s.mean),
                        short_number(s.p5),
                        short_number(s.p95)
                    );
                }
                None => h.push_str("<td class=\"num\">–</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div></section>");
}

fn violations_section(h: &mut String, p: &Page<'_>) {
    h.push_str("<section id=\"violations\"><h2>Invariant violations</h2>");
    if p.violations.is_empty() {
        h.push_str("<p class=\"ok\">None: every invariant held at every tick of every run.</p></section>");
        return;
    }
    let _ = write!(
        h,
        "<p class=\"bad\">{} violations (<code>violations*.parquet</code>).</p>",
        p.violations.len()
    );
    if p.violations.len() > MAX_VIOLATION_ROWS {
        let _ = write!(
            h,
            "<p>The first {MAX_VIOLATION_ROWS} by run and tick are listed; the Parquet file has them all.</p>"
        );
    }
    h.push_str("<table class=\"violations\"><thead><tr><th>run</th><th>group</th><th>tick</th><th>source</th><th>invariant</th><th>expected</th><th>actual</th></tr></thead><tbody>");
    for (v, g) in p.violations.iter().zip(&p.violation_groups).take(MAX_VIOLATION_ROWS) {
        let group = g.map(|g| p.groups[g].label.clone()).unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            v.run_id,
            esc(&group),
            v.tick,
            esc(&v.source),
            esc(&v.invariant),
            v.expected,
            v.actual
        );
    }
    h.push_str("</tbody></table></section>");
}

/// The embedded numbers: groups, per metric the drawn points of every
/// series and the final values, and the violations.
fn data_json(p: &Page<'_>, stride: usize) -> Result<String, Error> {
    use serde_json::{Value, json};
    let metrics: Vec<Value> = p
        .metrics
        .iter()
        .map(|m| {
            let series: Value = m
                .series
                .iter()
                .zip(p.groups)
                .map(|(s, g)| {
                    let keep: Vec<usize> =
                        (0..s.ticks.len()).filter(|&i| i % stride == 0 || i + 1 == s.ticks.len()).collect();
                    let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
                    json!({
                        "group": g.id,
                        "ticks": keep.iter().map(|&i| s.ticks[i]).collect::<Vec<u32>>(),
                        "median": pick(&s.median),
                        "p5": pick(&s.p5),
                        "p95": pick(&s.p95),
                        "n": keep.iter().map(|&i| s.n[i]).collect::<Vec<u32>>(),
                    })
                })
                .collect();
            series
        })
        .collect();
    let metrics: Vec<Value> = metrics
        .into_iter()
        .zip(p.metrics.iter().zip(p.at))
        .map(|(series, (m, at))| {
            let finals: Vec<Value> = at
                .groups
                .iter()
                .zip(p.groups.iter().zip(&m.series))
                .filter_map(|(f, (g, s))| {
                    let tick = p.tick.or_else(|| s.ticks.last().copied());
                    f.map(|f| json!({"group": g.id, "tick": tick, "n": f.n, "mean": f.mean, "median": f.median, "p5": f.p5, "p95": f.p95}))
                })
                .collect();
            json!({
                "name": m.name,
                "unit": p.units.get(&m.name),
                "constant": constant(m),
                "series": series,
                "finals": finals,
                "by_parameter": at.by_parameter,
                "delta": at.delta,
            })
        })
        .collect();
    let data = json!({
        "tool": "tokensim",
        "version": env!("CARGO_PKG_VERSION"),
        "scenario": p.manifest.scenario_name,
        "dataset": p.dataset,
        "quantiles": {"method": "linear", "band": [0.05, 0.95]},
        "stride": stride,
        "max_lines": p.max_lines,
        "runs": p.runs,
        "rows": p.rows,
        "groups": p.groups,
        "tick": p.tick,
        "layout": {
            "x_param": p.layout.x_param.as_ref().map(|(_, short)| short),
            "x_path": p.layout.x_param.as_ref().map(|(path, _)| path),
            "x_labels": p.layout.x_labels,
            "facets": p.layout.facets,
            "variants": p.layout.variants,
        },
        "metrics": metrics,
        "violations": {"total": p.violations.len(), "rows": p.violations.iter().take(MAX_VIOLATION_ROWS).collect::<Vec<_>>()},
        "diagram": p.diagram,
    });
    serde_json::to_string(&data).map_err(|e| Error::Run(format!("report data: {e}")))
}
