//! The report of a calibration directory (`tokensim report DIR` where DIR
//! was written by `tokensim calibrate`): per observed metric, the observed
//! series over the fitted model's median and 5–95 % band, the holdout
//! window shaded; the fitted values; and the loss over evaluations.

use std::fmt::Write;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::aggregate::Series;
use super::chart::{Chart, Line, draw, fmt_sig, padded};
use super::markup::esc;
use crate::error::Error;
use crate::observed::calibrate::{CalibrationManifest, FILES, KIND};

/// The calibration manifest in `dir`, if `dir` holds a calibration.
pub fn manifest(dir: &Path) -> Option<CalibrationManifest> {
    let m: CalibrationManifest = serde_json::from_slice(&std::fs::read(dir.join(FILES[2])).ok()?).ok()?;
    (m.kind == KIND).then_some(m)
}

/// `(eval_id, loss)` of every evaluation in `calibration.parquet` that has
/// a loss (an infeasible candidate's is empty).
fn losses(dir: &Path) -> Result<Vec<(u64, f64)>, Error> {
    let path = dir.join(FILES[1]);
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)?.build()? {
        let batch = batch?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::Data { path: path.clone(), message: format!("no column `{name}`") })
        };
        let (ids, loss) = (column("eval_id")?, column("loss")?);
        let (ids, loss) = (ids.as_primitive::<UInt64Type>(), loss.as_primitive::<Float64Type>());
        out.extend(
            (0..batch.num_rows()).filter(|&i| loss.is_valid(i)).map(|i| (ids.value(i), loss.value(i))),
        );
    }
    Ok(out)
}

fn flat(ticks: Vec<u32>, values: Vec<f64>) -> Series {
    let n = vec![1; values.len()];
    Series { ticks, median: values.clone(), p5: values.clone(), p95: values, n }
}

/// The page of the calibration in `dir`.
pub fn page(dir: &Path, m: &CalibrationManifest) -> Result<String, Error> {
    let mut body = String::new();
    let title = if m.scenario_name.is_empty() { "calibration".to_string() } else { m.scenario_name.clone() };
    let _ = write!(
        body,
        "<h1>Calibration: {}</h1><p class=\"sub\">{} loss, {} evaluations × {} replicates, fitted on ticks 1–{} ({} to {})",
        esc(&title),
        esc(&m.loss),
        m.evaluations,
        m.replicates,
        m.fit_ticks,
        esc(m.times.first().map_or("", String::as_str)),
        esc(m.times.get(m.fit_ticks.saturating_sub(1)).map_or("", String::as_str)),
    );
    if m.holdout_ticks > 0 {
        let _ = write!(
            body,
            ", held out ticks {}–{} ({} to {})",
            m.fit_ticks + 1,
            m.fit_ticks + m.holdout_ticks,
            esc(m.times.get(m.fit_ticks).map_or("", String::as_str)),
            esc(m.times.last().map_or("", String::as_str)),
        );
    }
    let _ = write!(body, ". Data: <code>{}</code>.</p>", esc(&m.observed_file));
    body.push_str("<h2>Fitted values</h2><table><tr><th>dimension</th><th>low</th><th>high</th><th>scenario</th><th>fitted</th></tr>");
    for f in &m.fitted {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&f.path),
            fmt_sig(f.low, 6),
            fmt_sig(f.high, 6),
            f.base.map_or("–".into(), |b| fmt_sig(b, 6)),
            fmt_sig(f.value, 6)
        );
    }
    let out = m.loss_out_of_sample.map_or("–".into(), |l| fmt_sig(l, 6));
    let _ = write!(
        body,
        "</table><table><tr><th>loss in sample</th><td class=\"num\" id=\"loss-in\">{}</td></tr><tr><th>loss out of sample</th><td class=\"num\" id=\"loss-out\">{out}</td></tr></table>",
        fmt_sig(m.loss_in_sample, 6)
    );

    body.push_str("<h2>Observed and fitted</h2><div class=\"panels\">");
    for s in &m.series {
        let ticks: Vec<u32> = (1..=s.median.len() as u32).collect();
        let fitted = Series {
            ticks: ticks.clone(),
            median: s.median.clone(),
            p5: s.p5.clone(),
            p95: s.p95.clone(),
            n: vec![m.replicates; ticks.len()],
        };
        let observed = flat((1..=s.observed.len() as u32).collect(), s.observed.clone());
        let values = s.observed.iter().chain(&s.p5).chain(&s.p95).copied().filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let y = padded(lo, hi);
        // The holdout window: a grey band across the plot's height.
        let holdout = (m.holdout_ticks > 0).then(|| {
            let t: Vec<u32> = (m.fit_ticks as u32 + 1..=(m.fit_ticks + m.holdout_ticks) as u32).collect();
            Series {
                median: vec![y.0; t.len()],
                p5: vec![y.0; t.len()],
                p95: vec![y.1; t.len()],
                n: vec![0; t.len()],
                ticks: t,
            }
        });
        let mut lines = Vec::new();
        if let Some(h) = &holdout {
            lines.push(Line { group: "holdout", label: "holdout window", colour: "#7f7f7f", series: h });
        }
        lines.push(Line {
            group: "fitted",
            label: "fitted model: median, 5–95 %",
            colour: "#1f77b4",
            series: &fitted,
        });
        lines.push(Line { group: "observed", label: "observed", colour: "#d62728", series: &observed });
        let caption = format!("{} (observed: {})", s.metric, s.column);
        let svg = draw(&Chart {
            caption: &caption,
            x_desc: "tick",
            y_desc: &s.metric,
            size: (1160, 420),
            x: (1.0, ticks.len().max(2) as f64),
            y,
            lines,
            stride: ticks.len().div_ceil(super::html::MAX_POINTS).max(1),
        })?;
        let _ = write!(
            body,
            "<div class=\"panel\" data-metric=\"{}\">{svg}<ul class=\"legend\"><li><span class=\"swatch\" style=\"background:#d62728\"></span>observed</li><li><span class=\"swatch\" style=\"background:#1f77b4\"></span>fitted median and 5–95 % band</li>{}</ul><p class=\"sub\">loss in sample {}, out of sample {}</p></div>",
            esc(&s.metric),
            if m.holdout_ticks > 0 {
                "<li><span class=\"swatch\" style=\"background:#7f7f7f;opacity:.4\"></span>holdout window</li>"
            } else {
                ""
            },
            s.loss.map_or("–".into(), |l| fmt_sig(l, 6)),
            s.holdout_loss.map_or("–".into(), |l| fmt_sig(l, 6)),
        );
    }
    body.push_str("</div>");

    let evals = losses(dir)?;
    if !evals.is_empty() {
        let positive = evals.iter().all(|e| e.1 > 0.0);
        let f = |l: f64| if positive { l.log10() } else { l };
        let ids: Vec<u32> = evals.iter().map(|e| e.0 as u32 + 1).collect();
        let each = flat(ids.clone(), evals.iter().map(|e| f(e.1)).collect());
        let mut best = f64::INFINITY;
        let best_so_far = flat(
            ids,
            evals
                .iter()
                .map(|e| {
                    best = best.min(e.1);
                    f(best)
                })
                .collect(),
        );
        let values = each.median.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let y_desc = if positive { "log10 loss" } else { "loss" };
        let svg = draw(&Chart {
            caption: "loss by evaluation",
            x_desc: "evaluation",
            y_desc,
            size: (1160, 360),
            x: (1.0, evals.len().max(2) as f64),
            y: padded(lo, hi),
            lines: vec![
                Line { group: "evaluation", label: "each evaluation", colour: "#9467bd", series: &each },
                Line { group: "best", label: "best so far", colour: "#2ca02c", series: &best_so_far },
            ],
            stride: 1,
        })?;
        let _ = write!(
            body,
            "<h2>Loss over evaluations</h2><div class=\"panel\" data-chart=\"loss\">{svg}<ul class=\"legend\"><li><span class=\"swatch\" style=\"background:#9467bd\"></span>each evaluation</li><li><span class=\"swatch\" style=\"background:#2ca02c\"></span>best so far</li></ul></div>"
        );
    }
    let data = serde_json::to_string(m).map_err(|e| Error::Run(e.to_string()))?.replace("</", "<\\/");
    Ok(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{}<title>{}</title><style>{}</style></head><body><main>{body}<footer>tokensim {} · {}</footer></main><script type=\"application/json\" id=\"report-data\">{data}</script></body></html>\n",
        crate::output::dataset::REPORT_MARKER,
        esc(&format!("calibration: {title}")),
        super::html::CSS,
        esc(&m.version),
        esc(&dir.display().to_string()),
    ))
}
