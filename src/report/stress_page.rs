//! The report of a stress directory (`tokensim report DIR` where DIR was
//! written by `tokensim stress`): the margin over evaluations, the explored
//! points as pairs of dimensions coloured by margin, and the
//! counterexample's trajectories next to the base scenario's.

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::aggregate::Series;
use super::chart::{self, Chart, Line, fmt_sig, padded};
use super::html::CSS;
use super::markup::esc;
use super::read::Dataset;
use super::svg::{Plot, margin_colour, range};
use super::{ReportOptions, ReportSummary};
use crate::error::Error;
use crate::search::stress_dir::{SEARCH_FILE, SUMMARY_FILE, Summary, TRAJECTORY_DIRS};

/// Whether `dir` is a stress directory (its summary, and no dataset manifest).
pub fn is_stress_dir(dir: &Path) -> bool {
    dir.join(SUMMARY_FILE).is_file() && !dir.join("manifest.json").exists()
}

/// Every column of `search.parquet` as floats (null → NaN), by name.
fn read_columns(path: &Path) -> Result<Vec<(String, Vec<f64>)>, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for batch in reader {
        let batch = batch?;
        for (i, field) in batch.schema().fields().iter().enumerate() {
            if out.len() <= i {
                out.push((field.name().clone(), Vec::new()));
            }
            let col = arrow::compute::cast(batch.column(i), &DataType::Float64)?;
            let col = col.as_primitive::<Float64Type>();
            out[i].1.extend((0..col.len()).map(|r| if col.is_null(r) { f64::NAN } else { col.value(r) }));
        }
    }
    Ok(out)
}

/// Median and 5–95 % band across runs of `metric`, per tick, in a dataset.
fn series(data: &Dataset, metric: &str) -> Result<Series, Error> {
    let chunks = data.ticks(&[metric.to_string()], &|_, t| Some(t))?;
    let mut by_tick: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
    for c in &chunks {
        for (k, v) in c.keys.iter().zip(&c.values[0]) {
            by_tick.entry(*k).or_default().push(*v);
        }
    }
    let mut s = Series { ticks: vec![], median: vec![], p5: vec![], p95: vec![], n: vec![] };
    for (t, mut v) in by_tick {
        v.retain(|x| x.is_finite());
        v.sort_by(f64::total_cmp);
        let q =
            |p: f64| if v.is_empty() { f64::NAN } else { v[((p * (v.len() - 1) as f64).round()) as usize] };
        s.ticks.push(t);
        s.median.push(q(0.5));
        s.p5.push(q(0.05));
        s.p95.push(q(0.95));
        s.n.push(v.len() as u32);
    }
    Ok(s)
}

/// Writes the stress report of `opts.dir`.
pub fn write(opts: &ReportOptions) -> Result<ReportSummary, Error> {
    let started = Instant::now();
    let dir = &opts.dir;
    let out = opts.out_path();
    if out.exists() && !opts.force {
        return Err(Error::Run(format!(
            "{}: already exists; pass --force to replace it or -o to choose another file",
            out.display()
        )));
    }
    let summary_path = dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&summary_path).map_err(|e| Error::io(&summary_path, e))?;
    let summary: Summary = serde_json::from_str(&text).map_err(|e| Error::Data {
        path: summary_path.clone(),
        message: format!("not a tokensim stress summary: {e}"),
    })?;
    let columns = read_columns(&dir.join(SEARCH_FILE))?;
    let col = |name: &str| -> Result<&Vec<f64>, Error> {
        columns.iter().find(|(n, _)| n == name).map(|(_, v)| v).ok_or_else(|| Error::Data {
            path: dir.join(SEARCH_FILE),
            message: format!("no column `{name}`"),
        })
    };
    let loss = col(if summary.objective == "worst" { "margin_worst" } else { "margin_mean" })?;
    col("eval_id")?;
    let n = loss.len();
    let scale = loss.iter().filter(|v| v.is_finite()).fold(0.0f64, |a, v| a.max(v.abs()));
    let ce = summary.counterexample_eval_id.map(|e| e as usize);

    let mut h = String::with_capacity(1 << 18);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{}<title>tokensim stress: {}</title><style>{CSS}</style></head><body><main>",
        crate::output::dataset::REPORT_MARKER,
        esc(&summary.property)
    );
    let _ = write!(
        h,
        "<h1>tokensim stress: property <code>{}</code></h1><p class=\"sub\">{} · {} margin over {} replicates per candidate · {} evaluations ({} runs searching, {} shrinking) · seed {}</p>",
        esc(&summary.property),
        esc(&summary.scenario_file),
        esc(&summary.objective),
        summary.replicates,
        n,
        summary.search_runs,
        summary.shrink_runs,
        summary.seed
    );
    match (ce, summary.counterexample_margin) {
        (Some(c), m) => {
            let _ = write!(
                h,
                "<h2>Counterexample</h2><p>Evaluation {c} fails with margin {}: <code>counterexample.toml</code> replays it with <code>tokensim run</code>.</p><table><tr><th>path</th><th>failing value</th><th>scenario's value</th></tr>",
                m.map_or("unbounded".to_string(), |m| fmt_sig(m, 6))
            );
            for ch in &summary.changes {
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    esc(&ch.path),
                    fmt_sig(ch.value, 6),
                    ch.base.map_or("unset".to_string(), |b| fmt_sig(b, 6))
                );
            }
            h.push_str("</table>");
        }
        (None, _) => {
            let _ = write!(
                h,
                "<h2>No failure</h2><p>The property held at every point evaluated; the smallest margin, {}, is at evaluation {}.</p>",
                summary.best_margin.map_or("unbounded".to_string(), |m| fmt_sig(m, 6)),
                summary.best_eval_id
            );
        }
    }

    // Margin over evaluations, with the running best.
    h.push_str("<h2>Margin over evaluations</h2>");
    let (lo, hi) = range(loss.iter().copied().chain([0.0]));
    let (lo, hi) = padded(lo, hi);
    let mut p = Plot::new(
        900,
        320,
        (0.0, n.max(1) as f64),
        (lo, hi),
        "margin per evaluation (red: fails)",
        "evaluation",
        "margin",
    );
    let _ = write!(
        p.svg,
        r##"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="#888" stroke-dasharray="4 3"/>"##,
        p.px(0.0),
        p.px(n as f64),
        y = p.py(0.0)
    );
    let mut best = f64::INFINITY;
    let mut path = String::new();
    for (i, &m) in loss.iter().enumerate() {
        if !m.is_finite() {
            continue;
        }
        best = best.min(m);
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if path.is_empty() { "M" } else { " L" },
            p.px(i as f64),
            p.py(best)
        );
        let _ = write!(
            p.svg,
            r#"<circle class="eval" cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
            p.px(i as f64),
            p.py(m),
            margin_colour(m, scale)
        );
    }
    let _ =
        write!(p.svg, r##"<path class="best" d="{path}" fill="none" stroke="#222" stroke-width="1.4"/>"##);
    h.push_str(&p.finish());

    // Pairs of dimensions coloured by margin.
    h.push_str("<h2>Explored points</h2><p>Each pair of dimensions; colour is the margin (red fails, blue holds, paler near zero); the ring is the counterexample, the cross the scenario's own values.</p><div style=\"display:flex;flex-wrap:wrap;gap:8px\">");
    let dims = &summary.dims;
    for i in 0..dims.len() {
        for j in i + 1..dims.len() {
            let (xs, ys) = (col(&dims[i].column)?, col(&dims[j].column)?);
            let mut p = Plot::new(
                300,
                280,
                (dims[i].low, dims[i].high),
                (dims[j].low, dims[j].high),
                "",
                &dims[i].path,
                &dims[j].path,
            );
            for k in 0..n {
                if xs[k].is_finite() && ys[k].is_finite() && p.in_y(ys[k]) {
                    let _ = write!(
                        p.svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                        p.px(xs[k]),
                        p.py(ys[k]),
                        margin_colour(loss[k], scale)
                    );
                }
            }
            if let (Some(bx), Some(by)) = (dims[i].base, dims[j].base) {
                let (x, y) = (p.px(bx), p.py(by));
                let _ = write!(
                    p.svg,
                    r##"<path d="M{} {y} h10 M{x} {} v10" stroke="#222" stroke-width="1.5"/>"##,
                    x - 5.0,
                    y - 5.0
                );
            }
            if let Some(c) = ce.filter(|&c| c < n) {
                let _ = write!(
                    p.svg,
                    r##"<circle class="counterexample" cx="{:.1}" cy="{:.1}" r="6" fill="none" stroke="#000" stroke-width="1.6"/>"##,
                    p.px(xs[c]),
                    p.py(ys[c])
                );
            }
            h.push_str(&p.finish());
        }
    }
    h.push_str("</div>");

    // Trajectories: counterexample next to base.
    let mut metrics = 0;
    if TRAJECTORY_DIRS.iter().all(|d| dir.join(d).join("manifest.json").is_file()) {
        let base = Dataset::open(&dir.join(TRAJECTORY_DIRS[0]))?;
        let failing = Dataset::open(&dir.join(TRAJECTORY_DIRS[1]))?;
        h.push_str("<h2>Trajectories: counterexample against the scenario</h2><p>Median and 5–95 % band over the replicates (the same seeds).</p><div style=\"display:flex;flex-wrap:wrap;gap:8px\">");
        for m in base.metrics.iter().filter(|m| failing.metrics.contains(m)) {
            let (a, b) = (series(&base, m)?, series(&failing, m)?);
            let ticks = range(a.ticks.iter().chain(&b.ticks).map(|&t| f64::from(t)));
            let y = range(a.p5.iter().chain(&a.p95).chain(&b.p5).chain(&b.p95).copied());
            let chart = Chart {
                caption: m,
                x_desc: "tick",
                y_desc: m,
                size: (440, 260),
                x: ticks,
                y: padded(y.0, y.1),
                lines: vec![
                    Line { group: "base", label: "scenario", colour: "#1f77b4", series: &a },
                    Line { group: "counterexample", label: "counterexample", colour: "#d62728", series: &b },
                ],
                stride: 1,
            };
            h.push_str(&chart::draw(&chart)?);
            metrics += 1;
        }
        h.push_str("</div><p class=\"sub\"><span style=\"color:#1f77b4\">■</span> scenario · <span style=\"color:#d62728\">■</span> counterexample</p>");
    }
    let _ = write!(
        h,
        "</main><script type=\"application/json\" id=\"report-data\">{}</script></body></html>",
        serde_json::to_string(&summary).unwrap_or_default().replace("</", "<\\/")
    );
    crate::output::dataset::write_atomic(&out, h.as_bytes())?;
    Ok(ReportSummary {
        path: out,
        groups: 2,
        metrics,
        runs: n,
        rows: n,
        violations: 0,
        seconds: started.elapsed().as_secs_f64(),
    })
}
