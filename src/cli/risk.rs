//! The risk table printed at the end of `tokensim run`, and the gate's
//! verdict (exit code 4).

use std::fmt::Write;

use crate::output::Manifest;
use crate::properties::risk::{INVARIANTS, gate_failures};
use crate::report::properties::short_number;

/// The table of every property and group, as printed after a run; empty
/// when the scenario declares no properties.
pub fn risk_table_text(m: &Manifest) -> String {
    if m.properties.iter().all(|r| r.property == INVARIANTS) {
        return String::new();
    }
    let group = |point: u32, variant: &str| match (m.points > 1, variant.is_empty()) {
        (true, true) => format!("point {point}"),
        (true, false) => format!("point {point} · {variant}"),
        (false, false) => variant.to_string(),
        (false, true) => "all runs".to_string(),
    };
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
                group(r.point_id, &r.variant),
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
pub fn gate_messages(m: &Manifest) -> Vec<String> {
    gate_failures(&m.properties)
        .into_iter()
        .map(|r| {
            let group = if r.variant.is_empty() { format!("point {}", r.point_id) } else { format!("point {} variant `{}`", r.point_id, r.variant) };
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
