//! The report's first section: every declared property's risk per group
//! (P(fail) with its 95 % Wilson interval, coloured by the gate's verdict),
//! the distribution of its margins across runs, and the runs that broke a
//! mechanism invariant. Recomputed from `properties.parquet` of every shard
//! present, so a sharded dataset gets one table.

use std::fmt::Write;
use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, UInt32Type};

use super::aggregate::Groups;
pub use super::format::short_number;
use super::markup::esc;
use super::read::{Dataset, RunInfo, ViolationRow, read_table};
use crate::error::Error;
use crate::properties::risk::{Gates, INVARIANTS, RiskRow, RunOutcome, risk_table};

/// What the section shows.
#[derive(Clone, Debug, Default)]
pub struct PropertiesSummary {
    /// The risk table (rows by group, then property; invariants last in
    /// each group).
    pub rows: Vec<RiskRow>,
    /// Per property (scenario order): each run's `(group index, margin)`,
    /// margins finite only.
    pub margins: Vec<(String, Vec<(usize, f64)>)>,
    /// Each property's temporal form and condition, and its description.
    pub declared: Vec<(String, String, String)>,
}

/// Reads `properties` of every shard and summarises them; `None` when the
/// scenario declares no property.
pub fn summarise(
    dataset: &Dataset,
    runs: &[RunInfo],
    groups: &Groups,
    violations: &[ViolationRow],
) -> Result<Option<PropertiesSummary>, Error> {
    let m = dataset.manifest();
    let mut names: Vec<(String, Option<f64>)> = Vec::new();
    for r in m.properties.iter().filter(|r| r.property != INVARIANTS) {
        if !names.iter().any(|(n, _)| *n == r.property) {
            names.push((r.property.clone(), r.max_failure_rate));
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    let files: Vec<PathBuf> = dataset.table_files("properties");
    let mut verdicts: Vec<(u32, usize, bool, f64)> = Vec::new();
    for path in &files {
        for batch in read_table(path)? {
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| Error::Data { path: path.clone(), message: format!("no column `{name}`") })
            };
            let run_id = arrow::compute::cast(col("run_id")?, &DataType::UInt32)?;
            let property = arrow::compute::cast(col("property")?, &DataType::Utf8)?;
            let margin = arrow::compute::cast(col("margin")?, &DataType::Float64)?;
            let held = col("held")?.as_boolean_opt().cloned().ok_or_else(|| Error::Data {
                path: path.clone(),
                message: "column `held` is not boolean".into(),
            })?;
            let (run_id, property, margin) = (
                run_id.as_primitive::<UInt32Type>(),
                property.as_string::<i32>(),
                margin.as_primitive::<Float64Type>(),
            );
            for i in 0..batch.num_rows() {
                let Some(k) = names.iter().position(|(n, _)| n == property.value(i)) else { continue };
                let m = if margin.is_valid(i) { margin.value(i) } else { f64::NAN };
                verdicts.push((run_id.value(i), k, held.value(i), m));
            }
        }
    }
    let mut outcomes: Vec<RunOutcome> = runs
        .iter()
        .map(|r| RunOutcome {
            run_id: r.run_id,
            point_id: r.point_id,
            variant: r.variant.clone(),
            verdicts: vec![(false, f64::NEG_INFINITY); names.len()],
            violations: 0,
        })
        .collect();
    outcomes.sort_by_key(|o| o.run_id);
    let find = |outcomes: &mut Vec<RunOutcome>, run: u32| -> Option<usize> {
        outcomes.binary_search_by_key(&run, |o| o.run_id).ok()
    };
    for &(run, k, held, margin) in &verdicts {
        if let Some(i) = find(&mut outcomes, run) {
            // An unbounded margin is written as null: on the side its verdict says.
            let m =
                if margin.is_nan() { if held { f64::INFINITY } else { f64::NEG_INFINITY } } else { margin };
            outcomes[i].verdicts[k] = (held, m);
        }
    }
    for v in violations {
        if let Some(i) = find(&mut outcomes, v.run_id) {
            outcomes[i].violations += 1;
        }
    }
    let rows = risk_table(&Gates { properties: names.clone() }, &outcomes);
    let margins = names
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let points = outcomes
                .iter()
                .filter_map(|o| {
                    let g = groups.group(o.run_id)? as usize;
                    let m = o.verdicts[k].1;
                    m.is_finite().then_some((g, m))
                })
                .collect();
            (name.clone(), points)
        })
        .collect();
    let declared = names
        .iter()
        .map(|(name, _)| {
            let t = m.scenario.get("properties").and_then(|p| p.get(name));
            let form = ["always", "eventually", "at_end"]
                .iter()
                .find_map(|f| t.and_then(|t| t.get(*f)).and_then(|v| v.as_str()).map(|c| format!("{f} {c}")))
                .unwrap_or_default();
            let window =
                t.and_then(|t| t.get("ticks")).map(|w| format!(" over ticks {w}")).unwrap_or_default();
            let description =
                t.and_then(|t| t.get("description")).and_then(|d| d.as_str()).unwrap_or_default().to_string();
            (name.clone(), format!("{form}{window}"), description)
        })
        .collect();
    Ok(Some(PropertiesSummary { rows, margins, declared }))
}

/// The section's HTML.
pub fn section(h: &mut String, s: &PropertiesSummary, groups: &Groups) {
    h.push_str("<section id=\"properties\"><h2>Properties</h2><p>For each property and group of runs (parameter point × variant): how many runs failed, P(fail) with its 95 % Wilson score interval, the worst margin (how far it held, or failed, in the condition's units) and the gate: a property with <code>max_failure_rate = r</code> passes only where the interval's upper bound is at most r (<code>tokensim run</code> exits with code 4 otherwise). Green: passes its gate or never failed; red: fails its gate; amber: failed in some runs, no gate.</p>");
    let label = |point: u32, variant: &str| {
        groups
            .groups
            .iter()
            .find(|g| g.point_id == point && g.variant == variant)
            .map(|g| g.label.clone())
            .unwrap_or_else(|| format!("point {point}"))
    };
    let names: Vec<&str> = s.declared.iter().map(|d| d.0.as_str()).chain([INVARIANTS]).collect();
    for (k, name) in names.iter().enumerate() {
        let rows: Vec<&RiskRow> = s.rows.iter().filter(|r| r.property == *name).collect();
        let _ = write!(h, "<div class=\"property\" data-chart=\"risk\" data-property=\"{}\">", esc(name));
        match s.declared.get(k) {
            Some((_, form, description)) => {
                let _ = write!(h, "<h3>{}</h3><p><code>{}</code>", esc(name), esc(form));
                if !description.is_empty() {
                    let _ = write!(h, " — {}", esc(description));
                }
                h.push_str("</p>");
            }
            None => h.push_str("<h3>Mechanism invariants</h3><p>Runs in which any mechanism invariant (conservation, curve identity, …) broke at some tick; any is exit code 3.</p>"),
        }
        h.push_str("<table><thead><tr><th>group</th><th>runs</th><th>failed</th><th>P(fail)</th><th>95 % interval</th><th></th><th>worst margin</th><th>gate</th></tr></thead><tbody>");
        for r in rows {
            let class = match (r.gate.as_str(), r.failures) {
                ("fail", _) => "fail",
                (_, 0) | ("pass", _) => "pass",
                _ => "warn",
            };
            let worst = match (r.worst_margin, r.worst_run_id) {
                (Some(m), Some(run)) => format!("{} (run {run})", short_number(m)),
                (None, Some(run)) if *name != INVARIANTS => format!("unbounded (run {run})"),
                _ => "—".into(),
            };
            let gate = match (r.gate.as_str(), r.max_failure_rate) {
                ("pass", Some(rate)) => format!("pass (≤ {rate})"),
                ("fail", Some(rate)) => format!("fail (> {rate})"),
                ("fail", None) => "fail".into(),
                ("pass", None) => "pass".into(),
                _ => "—".into(),
            };
            // The same numbers as data attributes (for tests and scripts) and as cells.
            let group = esc(&label(r.point_id, &r.variant));
            let (runs, failures, p, lo, hi) = (r.runs, r.failures, r.p_fail, r.ci_low, r.ci_high);
            let _ = write!(
                h,
                "<tr class=\"{class}\" data-group=\"{group}\" data-runs=\"{runs}\" data-failures=\"{failures}\" data-p-fail=\"{p}\" data-ci-low=\"{lo}\" data-ci-high=\"{hi}\"><td>{group}</td><td>{runs}</td><td>{failures}</td><td>{p:.3}</td><td>[{lo:.3}, {hi:.3}]</td><td>{bar}</td><td>{worst}</td><td>{gate}</td></tr>",
                bar = interval_bar(r),
                worst = esc(&worst),
                gate = esc(&gate),
            );
        }
        h.push_str("</tbody></table>");
        if let Some((_, margins)) = s.margins.get(k) {
            margins_strip(h, margins, groups, &|p, v| label(p, v));
        }
        h.push_str("</div>");
    }
    h.push_str("</section>");
}

/// An inline bar: the interval over [0, 1], P(fail) as a tick, the gate as
/// a dashed line.
fn interval_bar(r: &RiskRow) -> String {
    let (w, x) = (160.0, |p: f64| 4.0 + p.clamp(0.0, 1.0) * 152.0);
    let mut s = format!(
        "<svg width=\"{w}\" height=\"14\" viewBox=\"0 0 {w} 14\" role=\"img\"><title>P(fail) {:.3}, 95 % interval [{:.3}, {:.3}]</title><line x1=\"4\" y1=\"7\" x2=\"156\" y2=\"7\" stroke=\"#dde3ea\" stroke-width=\"2\"/>",
        r.p_fail, r.ci_low, r.ci_high
    );
    let _ = write!(
        s,
        "<rect x=\"{:.1}\" y=\"3\" width=\"{:.1}\" height=\"8\" fill=\"#8aa4c8\"/><line x1=\"{:.1}\" y1=\"1\" x2=\"{:.1}\" y2=\"13\" stroke=\"#1d2329\" stroke-width=\"2\"/>",
        x(r.ci_low),
        (x(r.ci_high) - x(r.ci_low)).max(1.0),
        x(r.p_fail),
        x(r.p_fail)
    );
    if let Some(rate) = r.max_failure_rate {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"14\" stroke=\"#c53030\" stroke-dasharray=\"2,2\"/>",
            x(rate)
        );
    }
    s.push_str("</svg>");
    s
}

/// Each run's margin as a dot on one row per group, with the zero line
/// (left of it: failed).
fn margins_strip(
    h: &mut String,
    margins: &[(usize, f64)],
    groups: &Groups,
    label: &dyn Fn(u32, &str) -> String,
) {
    if margins.is_empty() {
        return;
    }
    let lo = margins.iter().map(|m| m.1).fold(0.0, f64::min);
    let hi = margins.iter().map(|m| m.1).fold(0.0, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let used: Vec<usize> = (0..groups.groups.len()).filter(|g| margins.iter().any(|m| m.0 == *g)).collect();
    // Room on the left for the longest group label (about 7 px a
    // character at 12 px), so no label is cut off.
    let longest = used
        .iter()
        .map(|g| label(groups.groups[*g].point_id, &groups.groups[*g].variant).chars().count())
        .max()
        .unwrap_or(0);
    let (left, width, row) = ((longest as f64 * 7.0 + 16.0).clamp(120.0, 560.0), 560.0, 18.0);
    let height = row * used.len() as f64 + 30.0;
    let x = |m: f64| left + (m - lo) / span * width;
    let _ = write!(
        h,
        "<figure class=\"margins\" data-chart=\"margins\"><svg width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" role=\"img\" font-size=\"12\"><title>Margin of each run, by group</title>",
        left + width + 20.0,
        left + width + 20.0
    );
    let _ = write!(
        h,
        "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#c53030\" stroke-width=\"1\"/>",
        x(0.0),
        height - 24.0
    );
    for (r, g) in used.iter().enumerate() {
        let y = row * r as f64 + row / 2.0 + 2.0;
        let grp = &groups.groups[*g];
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>",
            left - 8.0,
            y,
            esc(&label(grp.point_id, &grp.variant))
        );
        for m in margins.iter().filter(|m| m.0 == *g) {
            let colour = if m.1 < 0.0 { "#c53030" } else { "#2f855a" };
            let _ = write!(
                h,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\" fill-opacity=\"0.6\" data-margin=\"{}\"/>",
                x(m.1),
                m.1
            );
        }
    }
    let axis_y = height - 12.0;
    let mut ticks = vec![(0.0, "middle")];
    if lo < 0.0 {
        ticks.push((lo, "start"));
    }
    if hi > 0.0 {
        ticks.push((hi, "end"));
    }
    for (v, anchor) in ticks {
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{axis_y}\" text-anchor=\"{anchor}\" fill=\"#5b6670\">{}</text>",
            x(v),
            esc(&short_number(v))
        );
    }
    h.push_str("</svg><figcaption>Margin of each run (dots), by group; left of the red line the property failed.</figcaption></figure>");
}
