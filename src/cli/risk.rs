//! The risk table printed at the end of `tokensim run`, and the gate's
//! verdict (exit code 4).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::experiment::Plan;
use crate::output::Manifest;
use crate::properties::risk::{INVARIANTS, gate_failures};
use crate::report::aggregate::{short_names, value_text};
use crate::report::properties::short_number;

/// Each parameter point's swept values as a label (`entry_tribute=0.1`,
/// short names as in the report), by point id.
pub fn point_labels(plan: &Plan) -> BTreeMap<u32, String> {
    let short = short_names(&plan.swept);
    let mut labels = BTreeMap::new();
    for run in &plan.runs {
        labels.entry(run.spec.point_id).or_insert_with(|| {
            let values = run.spec.params.iter().zip(&short).map(|((_, v), name)| {
                format!("{name}={}", value_text(&serde_json::to_value(v).unwrap_or_default()))
            });
            values.collect::<Vec<_>>().join(", ")
        });
    }
    labels
}

/// A group of runs as shown: its point's values (see [`point_labels`]) and
/// its variant.
fn group(labels: &BTreeMap<u32, String>, point: u32, variant: &str) -> String {
    let point =
        labels.get(&point).filter(|l| !l.is_empty()).cloned().unwrap_or_else(|| format!("point {point}"));
    match (labels.len() > 1, variant.is_empty()) {
        (true, true) => point,
        (true, false) => format!("{point} · {variant}"),
        (false, false) => variant.to_string(),
        (false, true) => "all runs".to_string(),
    }
}

/// The table of every property and group, as printed after a run; empty
/// when the scenario declares no properties.
pub fn risk_table_text(m: &Manifest, labels: &BTreeMap<u32, String>) -> String {
    if m.properties.iter().all(|r| r.property == INVARIANTS) {
        return String::new();
    }
    let rows: Vec<[String; 7]> = m
        .properties
        .iter()
        .map(|r| {
            let worst = match (r.worst_margin, r.worst_run_id) {
                (Some(w), Some(run)) => format!("{} (run {run})", short_number(w)),
                (None, Some(run)) if r.property != INVARIANTS => format!("unbounded (run {run})"),
                _ => "—".into(),
            };
            let gate = match (r.gate.as_str(), r.max_failure_rate) {
                ("pass", Some(rate)) => format!("pass (≤ {rate})"),
                ("fail", Some(rate)) => format!("FAIL (> {rate})"),
                ("fail", None) => "FAIL".into(),
                _ => "—".into(),
            };
            [
                r.property.clone(),
                group(labels, r.point_id, &r.variant),
                format!("{}/{}", r.failures, r.runs),
                format!("{:.3}", r.p_fail),
                format!("[{:.3}, {:.3}]", r.ci_low, r.ci_high),
                worst,
                gate,
            ]
        })
        .collect();
    let header = ["property", "group", "failed", "P(fail)", "95% interval", "worst margin", "gate"];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        let _ = writeln!(out, "  {}", padded.join("  ").trim_end());
    };
    line(&mut out, &header);
    for r in &rows {
        line(&mut out, &r.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// The gate failures as error lines, one per property and group.
pub fn gate_messages(m: &Manifest, labels: &BTreeMap<u32, String>) -> Vec<String> {
    gate_failures(&m.properties)
        .into_iter()
        .map(|r| {
            let group = match group(labels, r.point_id, &r.variant).as_str() {
                "all runs" => "all runs".to_string(),
                g => format!("`{g}`"),
            };
            format!(
                "property `{}` is not shown safe in {group}: {} of {} runs failed, 95% upper bound {:.3} > max_failure_rate {}",
                r.property,
                r.failures,
                r.runs,
                r.ci_high,
                r.max_failure_rate.unwrap_or(0.0)
            )
        })
        .collect()
}
