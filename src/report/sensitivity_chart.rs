//! The sensitivity section of a dataset's report: when `tokensim
//! sensitivity` has written `sensitivity.parquet`, one bar chart per
//! (metric, variant) — Morris μ* with σ as a whisker, or Sobol S1 and ST
//! with their 95 % intervals.

use std::fmt::Write;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::chart::fmt_sig;
use super::markup::esc;
use super::sensitivity::FILE;
use super::svg::{Plot, range};
use crate::error::Error;

/// Text and float columns of `sensitivity.parquet`.
struct Table {
    text: Vec<(String, Vec<String>)>,
    num: Vec<(String, Vec<f64>)>,
}

fn read(path: &Path) -> Result<Table, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut t = Table { text: Vec::new(), num: Vec::new() };
    for batch in reader {
        let batch = batch?;
        for (i, f) in batch.schema().fields().iter().enumerate() {
            let c = batch.column(i);
            if f.data_type() == &DataType::Utf8 {
                let s = c.as_string::<i32>();
                let v: Vec<String> = (0..s.len()).map(|r| s.value(r).to_string()).collect();
                match t.text.iter_mut().find(|(n, _)| n == f.name()) {
                    Some((_, col)) => col.extend(v),
                    None => t.text.push((f.name().clone(), v)),
                }
            } else {
                let c = arrow::compute::cast(c, &DataType::Float64)?;
                let c = c.as_primitive::<Float64Type>();
                let v: Vec<f64> =
                    (0..c.len()).map(|r| if c.is_null(r) { f64::NAN } else { c.value(r) }).collect();
                match t.num.iter_mut().find(|(n, _)| n == f.name()) {
                    Some((_, col)) => col.extend(v),
                    None => t.num.push((f.name().clone(), v)),
                }
            }
        }
    }
    Ok(t)
}

/// The section's HTML, or nothing when `dir` has no `sensitivity.parquet`.
pub fn section(dir: &Path) -> Result<String, Error> {
    let path = dir.join(FILE);
    if !path.is_file() {
        return Ok(String::new());
    }
    let t = read(&path)?;
    let text = |n: &str| t.text.iter().find(|(c, _)| c == n).map(|(_, v)| v);
    let num = |n: &str| t.num.iter().find(|(c, _)| c == n).map(|(_, v)| v);
    let (Some(metric), Some(variant), Some(param)) = (text("metric"), text("variant"), text("parameter"))
    else {
        return Err(Error::Data { path, message: "not a tokensim sensitivity table".into() });
    };
    let morris = num("mu_star").is_some();
    // Bars: (label, value, low, high, colour) per index shown.
    let bars: Vec<(&str, &str, &str, &str)> = if morris {
        vec![("μ*", "mu_star", "", "sigma")]
    } else {
        vec![("S1", "s1", "s1_low", "s1_high"), ("ST", "st", "st_low", "st_high")]
    };
    let colours = ["#1f77b4", "#ff7f0e"];
    let mut h = String::new();
    let _ = write!(
        h,
        "<h2>Sensitivity</h2><p>From <code>{FILE}</code>: {}. Parameters ranked within each output.</p><div style=\"display:flex;flex-wrap:wrap;gap:8px\">",
        if morris {
            "Morris μ* (bar) ± σ (whisker) of the elementary effects, per unit of each parameter's range"
        } else {
            "Sobol first-order S1 and total ST with 95 % bootstrap intervals (whiskers)"
        }
    );
    let mut start = 0;
    while start < metric.len() {
        let end = (start..metric.len())
            .find(|&i| metric[i] != metric[start] || variant[i] != variant[start])
            .unwrap_or(metric.len());
        let rows = start..end;
        let value =
            |col: &str, i: usize| if col.is_empty() { f64::NAN } else { num(col).map_or(f64::NAN, |v| v[i]) };
        let (lo, hi) = range(rows.clone().flat_map(|i| {
            bars.iter().flat_map(move |(_, v, l, u)| {
                let (v, s) = (value(v, i), value(u, i));
                if morris { [v, v - s, v + s, 0.0] } else { [v, value(l, i), s, 0.0] }
            })
        }));
        let n = rows.len() as f64;
        let title = if variant[start].is_empty() {
            metric[start].clone()
        } else {
            format!("{} · {}", metric[start], variant[start])
        };
        let mut p = Plot::new(
            520,
            60 + 34 * rows.len() as u32 + 40,
            (lo.min(0.0), hi.max(0.0)),
            (0.0, n),
            &title,
            if morris { "μ*" } else { "index" },
            "",
        );
        let _ = write!(
            p.svg,
            r##"<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#666"/>"##,
            p.py(0.0),
            p.py(n),
            x = p.px(0.0)
        );
        for (k, i) in rows.clone().enumerate() {
            let slot = n - k as f64 - 1.0;
            let _ = write!(
                p.svg,
                r#"<text class="param" x="{}" y="{:.1}" font-size="10">{}</text>"#,
                p.px(lo.min(0.0)) + 4.0,
                p.py(slot + 0.92),
                esc(&param[i])
            );
            for (b, (label, v, l, u)) in bars.iter().enumerate() {
                let val = value(v, i);
                let (w0, w1) =
                    if morris { (val - value(u, i), val + value(u, i)) } else { (value(l, i), value(u, i)) };
                let y0 = p.py(slot + 0.7 - 0.3 * b as f64);
                let y1 = p.py(slot + 0.45 - 0.3 * b as f64);
                let (x0, x1) = (p.px(0.0_f64.min(val)), p.px(0.0_f64.max(val)));
                let _ = write!(
                    p.svg,
                    r##"<rect class="bar" data-parameter="{}" data-index="{label}" x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {label} = {}</title></rect><line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#222"/>"##,
                    esc(&param[i]),
                    (x1 - x0).max(0.5),
                    (y1 - y0).max(1.0),
                    colours[b],
                    esc(&param[i]),
                    fmt_sig(val, 4),
                    p.px(w0),
                    p.px(w1),
                    y = (y0 + y1) / 2.0
                );
            }
        }
        h.push_str(&p.finish());
        start = end;
    }
    h.push_str("</div>");
    if !morris {
        h.push_str("<p class=\"sub\"><span style=\"color:#1f77b4\">■</span> S1 · <span style=\"color:#ff7f0e\">■</span> ST</p>");
    }
    Ok(h)
}
