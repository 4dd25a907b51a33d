//! Grouping runs by (point, variant) and summarising each tick across
//! replicates.
//!
//! Every row gets a key `group · (max_tick + 1) + tick`. One counting sort
//! by key (counts, prefix sums, scatter) puts each (group, tick)'s values
//! side by side in one flat buffer, each segment is sorted once, and the
//! quantiles are read off the sorted segments: exact, `O(rows)` plus small
//! sorts, and no allocation per row.
//!
//! Quantiles interpolate linearly between order statistics: for `n` sorted
//! values `x₀ … xₙ₋₁`, `q(p) = x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋₊₁ − x_⌊h⌋)` with
//! `h = (n − 1)p` (numpy's default, Polars' `interpolation="linear"`). The
//! median is `q(0.5)`, the band `q(0.05)…q(0.95)`. NaN values are left out.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::read::{RunInfo, TickChunk};
use crate::error::Error;

/// Runs sharing a parameter point and variant: one line on a chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// Stable id: `p{point}` or `p{point}/{variant}`.
    pub id: String,
    /// Parameter point.
    pub point_id: u32,
    /// Variant (empty without variants).
    pub variant: String,
    /// Swept values of the point, `(dotted path, value)`.
    pub params: Vec<(String, serde_json::Value)>,
    /// Human label: swept values (short names) and variant.
    pub label: String,
    /// Replicates (runs) in the group.
    pub runs: usize,
}

/// The groups of a dataset and which group each run belongs to.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    /// Groups ordered by point, then variant as first seen.
    pub groups: Vec<Group>,
    /// Group index by run id (`u32::MAX`: unknown run).
    pub of_run: Vec<u32>,
}

impl Groups {
    /// Groups `runs` by (point, variant); `variants` gives the order of
    /// variants (the manifest's), others follow as seen.
    pub fn of(runs: &[RunInfo], variants: &[String]) -> Groups {
        let variant_rank = |v: &str| variants.iter().position(|x| x == v).unwrap_or(usize::MAX);
        // (point, variant rank, variant) -> first run with that key.
        let mut first: BTreeMap<(u32, usize, &str), &RunInfo> = BTreeMap::new();
        for r in runs {
            first.entry((r.point_id, variant_rank(&r.variant), &r.variant)).or_insert(r);
        }
        let paths: Vec<String> =
            runs.first().map(|r| r.params.iter().map(|(p, _)| p.clone()).collect()).unwrap_or_default();
        let short = short_names(&paths);
        let mut index: BTreeMap<(u32, &str), u32> = BTreeMap::new();
        let mut groups: Vec<Group> = Vec::with_capacity(first.len());
        for (&(point, _, variant), run) in &first {
            let params = run.params.clone();
            let mut parts: Vec<String> =
                params.iter().zip(&short).map(|((_, v), s)| format!("{s}={}", value_text(v))).collect();
            if !variant.is_empty() {
                parts.push(variant.to_string());
            }
            let label = if parts.is_empty() { "all runs".to_string() } else { parts.join(", ") };
            let id = if variant.is_empty() { format!("p{point}") } else { format!("p{point}/{variant}") };
            index.insert((point, variant), groups.len() as u32);
            groups.push(Group { id, point_id: point, variant: variant.to_string(), params, label, runs: 0 });
        }
        let max_run = runs.iter().map(|r| r.run_id as usize + 1).max().unwrap_or(0);
        let mut of_run = vec![u32::MAX; max_run];
        for r in runs {
            let g = index[&(r.point_id, r.variant.as_str())];
            of_run[r.run_id as usize] = g;
            groups[g as usize].runs += 1;
        }
        Groups { groups, of_run }
    }

    /// The group of `run_id`, if the run is known.
    pub fn group(&self, run_id: u32) -> Option<u32> {
        self.of_run.get(run_id as usize).copied().filter(|&g| g != u32::MAX)
    }
}

/// Short names of swept paths: the last component, unless two clash.
pub fn short_names(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            let last = p.rsplit('.').next().unwrap_or(p).to_string();
            let clashes = paths.iter().filter(|q| q.rsplit('.').next() == Some(last.as_str())).count() > 1;
            if clashes { p.clone() } else { last }
        })
        .collect()
}

/// A swept value as shown in labels: text unquoted, integers plainly,
/// other numbers with at most 4 decimals (a Morris level 0.7666… reads
/// 0.7667).
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_f64() => {
            super::format::short_number(n.as_f64().unwrap_or(f64::NAN))
        }
        other => other.to_string(),
    }
}

/// One group's trajectory of one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Series {
    /// Ticks with data, ascending.
    pub ticks: Vec<u32>,
    /// Median across replicates at each tick.
    pub median: Vec<f64>,
    /// 5th percentile.
    pub p5: Vec<f64>,
    /// 95th percentile.
    pub p95: Vec<f64>,
    /// Values (replicates) at each tick.
    pub n: Vec<u32>,
}

/// A metric summarised per group.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MetricSummary {
    /// Column name.
    pub name: String,
    /// Per group, in group order.
    pub series: Vec<Series>,
}

/// Linear-interpolation quantile of sorted values (NaN if empty).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The key of `(group, tick)` with `slots = max_tick + 1`.
pub fn key(group: u32, tick: u32, slots: u32) -> u32 {
    group * slots + tick
}

/// Summarises `metrics` (the columns of `chunks`, in order) per group and
/// tick; rows carry keys from [`key`] with `slots` ticks per group.
/// Consumes the values so each metric's memory is freed once sorted.
pub fn summarise(
    chunks: &mut [TickChunk],
    metrics: &[String],
    n_groups: usize,
    slots: u32,
) -> Result<Vec<MetricSummary>, Error> {
    let n_keys = n_groups * slots as usize;
    // Counting sort: segment offsets shared by every metric.
    let mut offsets = vec![0usize; n_keys + 1];
    for c in chunks.iter() {
        for &k in &c.keys {
            offsets[k as usize + 1] += 1;
        }
    }
    for i in 0..n_keys {
        offsets[i + 1] += offsets[i];
    }
    let total = offsets[n_keys];
    let mut buf = vec![0.0f64; total];
    let mut cursor = vec![0usize; n_keys];
    let mut out = Vec::with_capacity(metrics.len());
    for (m, name) in metrics.iter().enumerate() {
        cursor.copy_from_slice(&offsets[..n_keys]);
        for c in chunks.iter_mut() {
            let values = std::mem::take(&mut c.values[m]);
            for (&k, v) in c.keys.iter().zip(values) {
                let at = &mut cursor[k as usize];
                buf[*at] = v;
                *at += 1;
            }
        }
        // Sort every (group, tick) segment once.
        let mut segments: Vec<&mut [f64]> = Vec::with_capacity(n_keys);
        let mut rest: &mut [f64] = &mut buf;
        for k in 0..n_keys {
            let (seg, tail) = rest.split_at_mut(offsets[k + 1] - offsets[k]);
            segments.push(seg);
            rest = tail;
        }
        segments.par_iter_mut().for_each(|s| s.sort_unstable_by(f64::total_cmp));
        let mut series = Vec::with_capacity(n_groups);
        for g in 0..n_groups {
            let mut s = Series::default();
            for t in 0..slots {
                let k = g * slots as usize + t as usize;
                let seg = finite(&buf[offsets[k]..offsets[k + 1]]);
                if offsets[k + 1] == offsets[k] {
                    continue;
                }
                s.ticks.push(t);
                s.median.push(quantile(seg, 0.5));
                s.p5.push(quantile(seg, 0.05));
                s.p95.push(quantile(seg, 0.95));
                s.n.push(seg.len() as u32);
            }
            series.push(s);
        }
        out.push(MetricSummary { name: name.clone(), series });
    }
    Ok(out)
}

/// The sorted segment without NaNs (`total_cmp` puts negative NaNs first
/// and positive ones last).
fn finite(sorted: &[f64]) -> &[f64] {
    let start = sorted.iter().position(|v| !v.is_nan()).unwrap_or(sorted.len());
    let end = sorted.iter().rposition(|v| !v.is_nan()).map_or(start, |i| i + 1);
    &sorted[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_linearly() {
        let x = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile(&x, 0.5), 3.0);
        assert_eq!(quantile(&x, 0.0), 1.0);
        assert_eq!(quantile(&x, 1.0), 10.0);
        // h = 4 · 0.95 = 3.8: 4 + 0.8 · 6
        assert!((quantile(&x, 0.95) - 8.8).abs() < 1e-12);
        assert!((quantile(&[1.0, 2.0], 0.5) - 1.5).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(quantile(&[7.0], 0.05), 7.0);
    }

    #[test]
    fn counting_sort_groups_by_key_and_skips_nan() {
        // Two groups, ticks 1..=2 (slots 3); values given out of order over two chunks.
        let slots = 3;
        let mut chunks = vec![
            TickChunk {
                keys: vec![key(0, 1, slots), key(1, 2, slots), key(0, 1, slots)],
                runs: vec![0, 1, 0],
                values: vec![vec![5.0, 1.0, 3.0]],
            },
            TickChunk {
                keys: vec![key(0, 1, slots), key(0, 2, slots), key(1, 2, slots)],
                runs: vec![0, 0, 1],
                values: vec![vec![4.0, f64::NAN, 2.0]],
            },
        ];
        let s = summarise(&mut chunks, &["m".into()], 2, slots).unwrap();
        let m = &s[0];
        assert_eq!(m.series[0].ticks, vec![1, 2]);
        assert_eq!(m.series[0].median[0], 4.0);
        assert_eq!(m.series[0].n, vec![3, 0]);
        assert!(m.series[0].median[1].is_nan());
        assert_eq!(m.series[1].ticks, vec![2]);
        assert_eq!(m.series[1].median, vec![1.5]);
    }
}
