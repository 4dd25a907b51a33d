//! A sweep as a sweep: which swept parameter is the x axis, how points are
//! split into facets, each run's value at the compared tick (its last, or
//! `--tick T`), and from those the numbers of the final-value table, the
//! by-parameter charts (median and 5–95 % band over replicates, one series
//! per variant) and the A/B deltas (each variant minus the first, paired by
//! replicate: common random numbers make the difference tight).

use std::collections::BTreeMap;

use serde::Serialize;

use super::aggregate::{Group, Groups, quantile, short_names, value_text};
use super::read::{RunInfo, TickChunk};

/// More facets than this and a chart shows every point on one panel,
/// unconnected (e.g. a Morris design, whose points share no grid).
pub const MAX_FACETS: usize = 8;

/// Points of a sweep drawn against the first swept parameter.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The x parameter's dotted path and short name (`None`: no sweep).
    pub x_param: Option<(String, String)>,
    /// x position of each point id.
    pub x: BTreeMap<u32, f64>,
    /// Categorical x: the label at position `i` (numbers: `None`).
    pub x_labels: Option<Vec<String>>,
    /// Panels: points sharing the other swept values, ordered by x.
    pub facets: Vec<Facet>,
    /// Whether each facet has one point per x value (draw lines).
    pub connect: bool,
    /// Variants in scenario order (`[""]` without variants).
    pub variants: Vec<String>,
}

/// One panel's points.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Facet {
    /// The other swept values (`""` with one facet).
    pub label: String,
    /// Point ids, by x.
    pub points: Vec<u32>,
}

impl Layout {
    /// The layout of `groups` (swept paths in the manifest's order).
    pub fn of(groups: &Groups, swept: &[String]) -> Layout {
        let groups = &groups.groups;
        let mut variants: Vec<String> = Vec::new();
        let mut points: BTreeMap<u32, &Group> = BTreeMap::new();
        for g in groups {
            if !variants.contains(&g.variant) {
                variants.push(g.variant.clone());
            }
            points.entry(g.point_id).or_insert(g);
        }
        let short = short_names(swept);
        let mut layout = Layout { variants, connect: true, ..Layout::default() };
        if swept.is_empty() || points.values().any(|g| g.params.len() != swept.len()) {
            layout.facets = vec![Facet { label: String::new(), points: points.keys().copied().collect() }];
            layout.x = points.keys().map(|&p| (p, 0.0)).collect();
            layout.x_labels = Some(vec!["all runs".into()]);
            return layout;
        }
        layout.x_param = Some((swept[0].clone(), short[0].clone()));
        let numeric = points.values().all(|g| g.params[0].1.as_f64().is_some_and(f64::is_finite));
        if numeric {
            layout.x = points.iter().map(|(&p, g)| (p, g.params[0].1.as_f64().unwrap_or(0.0))).collect();
        } else {
            let mut labels: Vec<String> = Vec::new();
            for (&p, g) in &points {
                let t = value_text(&g.params[0].1);
                let i = labels.iter().position(|l| *l == t).unwrap_or_else(|| {
                    labels.push(t);
                    labels.len() - 1
                });
                layout.x.insert(p, i as f64);
            }
            layout.x_labels = Some(labels);
        }
        // The other swept values of each point; facets when they vary at a
        // given x (a grid), one panel when x determines them (a zip).
        let rest = |g: &Group| -> String {
            g.params[1..]
                .iter()
                .zip(&short[1..])
                .map(|((_, v), s)| format!("{s}={}", value_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut by_rest: Vec<(String, Vec<u32>)> = Vec::new();
        let mut rest_at_x: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (&p, g) in &points {
            let r = rest(g);
            let seen = rest_at_x.entry(value_text(&g.params[0].1)).or_default();
            if !seen.contains(&r) {
                seen.push(r.clone());
            }
            match by_rest.iter_mut().find(|(k, _)| *k == r) {
                Some((_, ps)) => ps.push(p),
                None => by_rest.push((r, vec![p])),
            }
        }
        let grid = rest_at_x.values().any(|r| r.len() > 1);
        let by_x = |ps: &mut Vec<u32>, x: &BTreeMap<u32, f64>| {
            ps.sort_by(|a, b| x[a].total_cmp(&x[b]).then(a.cmp(b)));
        };
        if grid && by_rest.len() <= MAX_FACETS {
            for (label, mut ps) in by_rest {
                by_x(&mut ps, &layout.x);
                layout.facets.push(Facet { label, points: ps });
            }
        } else {
            let mut ps: Vec<u32> = points.keys().copied().collect();
            by_x(&mut ps, &layout.x);
            layout.facets.push(Facet { label: String::new(), points: ps });
        }
        layout.connect = layout.facets.iter().all(|f| {
            let xs: Vec<f64> = f.points.iter().map(|p| layout.x[p]).collect();
            xs.windows(2).all(|w| w[0] < w[1])
        });
        layout
    }

    /// Position of `point` among the distinct x values, in `0..=1` (for an
    /// ordered colour scale).
    pub fn x_rank(&self, point: u32) -> f64 {
        let mut xs: Vec<f64> = self.x.values().copied().collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let at = xs.iter().position(|v| *v == self.x[&point]).unwrap_or(0);
        if xs.len() > 1 { at as f64 / (xs.len() - 1) as f64 } else { 0.5 }
    }

    /// The x value of `point` as text.
    pub fn x_text(&self, point: u32) -> String {
        let x = self.x[&point];
        match &self.x_labels {
            Some(l) => l.get(x as usize).cloned().unwrap_or_default(),
            None => super::format::short_number(x),
        }
    }
}

/// Mean, median and 5–95 % band of finite values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Finite values.
    pub n: u32,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 5th percentile.
    pub p5: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Stats {
    /// The statistics of the finite `values` (`None` if there are none).
    pub fn of(mut values: Vec<f64>) -> Option<Stats> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Stats {
            n: values.len() as u32,
            mean: values.iter().sum::<f64>() / values.len() as f64,
            median: quantile(&values, 0.5),
            p5: quantile(&values, 0.05),
            p95: quantile(&values, 0.95),
        })
    }
}

/// One line of a by-parameter or delta chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PointSeries {
    /// Facet index.
    pub facet: usize,
    /// The variant (`""` without variants): `data-key` of the series.
    pub key: String,
    /// Point ids of the points drawn, by x.
    pub points: Vec<u32>,
    /// x positions.
    pub x: Vec<f64>,
    /// Median across replicates.
    pub median: Vec<f64>,
    /// 5th percentile.
    pub p5: Vec<f64>,
    /// 95th percentile.
    pub p95: Vec<f64>,
    /// Replicates (pairs, for a delta).
    pub n: Vec<u32>,
}

impl PointSeries {
    fn push(&mut self, point: u32, x: f64, s: Stats) {
        self.points.push(point);
        self.x.push(x);
        self.median.push(s.median);
        self.p5.push(s.p5);
        self.p95.push(s.p95);
        self.n.push(s.n);
    }
}

/// What one metric shows at the compared tick.
#[derive(Clone, Debug, Default)]
pub struct AtTick {
    /// Per group (group order): statistics across its replicates.
    pub groups: Vec<Option<Stats>>,
    /// Per facet and variant.
    pub by_parameter: Vec<PointSeries>,
    /// Per facet and variant after the first: variant − first variant,
    /// paired by replicate.
    pub delta: Vec<PointSeries>,
}

/// Each metric's value in each run at `target[run_id]` (`u32::MAX`: none);
/// NaN where the run has no such row. Indexed `[metric][run_id]`.
pub fn values_at(chunks: &[TickChunk], metrics: usize, slots: u32, target: &[u32]) -> Vec<Vec<f64>> {
    let mut out = vec![vec![f64::NAN; target.len()]; metrics];
    for c in chunks {
        for (row, (&key, &run)) in c.keys.iter().zip(&c.runs).enumerate() {
            if target.get(run as usize) == Some(&(key % slots)) {
                for (m, col) in out.iter_mut().enumerate() {
                    col[run as usize] = c.values[m][row];
                }
            }
        }
    }
    out
}

/// The statistics of one metric (`values[run_id]`) at the compared tick.
pub fn at_tick(values: &[f64], runs: &[RunInfo], groups: &Groups, layout: &Layout) -> AtTick {
    let n = groups.groups.len();
    let mut members: Vec<Vec<&RunInfo>> = vec![Vec::new(); n];
    for r in runs {
        if let Some(g) = groups.group(r.run_id) {
            members[g as usize].push(r);
        }
    }
    let value = |r: &RunInfo| values.get(r.run_id as usize).copied().unwrap_or(f64::NAN);
    let stats: Vec<Option<Stats>> =
        members.iter().map(|rs| Stats::of(rs.iter().map(|r| value(r)).collect())).collect();
    let index: BTreeMap<(u32, &str), usize> =
        groups.groups.iter().enumerate().map(|(i, g)| ((g.point_id, g.variant.as_str()), i)).collect();
    let mut by_parameter = Vec::new();
    let mut delta = Vec::new();
    for (f, facet) in layout.facets.iter().enumerate() {
        for (k, variant) in layout.variants.iter().enumerate() {
            let mut line = PointSeries { facet: f, key: variant.clone(), ..PointSeries::default() };
            let mut diff = line.clone();
            for &p in &facet.points {
                let Some(&g) = index.get(&(p, variant.as_str())) else { continue };
                if let Some(s) = stats[g] {
                    line.push(p, layout.x[&p], s);
                }
                let Some(&base) = index.get(&(p, layout.variants[0].as_str())) else { continue };
                if k == 0 {
                    continue;
                }
                let first: BTreeMap<u32, f64> =
                    members[base].iter().map(|r| (r.replicate, value(r))).collect();
                let pairs =
                    members[g].iter().filter_map(|r| first.get(&r.replicate).map(|b| value(r) - b)).collect();
                // Without a sweep each variant has its own x position.
                let x = if layout.x_param.is_some() { layout.x[&p] } else { (k - 1) as f64 };
                if let Some(s) = Stats::of(pairs) {
                    diff.push(p, x, s);
                }
            }
            by_parameter.push(line);
            if k > 0 {
                delta.push(diff);
            }
        }
    }
    AtTick { groups: stats, by_parameter, delta }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(run_id: u32, point_id: u32, replicate: u32, variant: &str, params: &[(&str, f64)]) -> RunInfo {
        RunInfo {
            run_id,
            point_id,
            replicate,
            ticks: 10,
            variant: variant.into(),
            params: params.iter().map(|(p, v)| (p.to_string(), json!(v))).collect(),
        }
    }

    #[test]
    fn a_grid_gets_one_facet_per_second_value_and_a_zip_one_panel() {
        let swept = vec!["a.x".to_string(), "a.y".to_string()];
        let grid: Vec<RunInfo> = (0..4)
            .map(|p| run(p, p, 0, "", &[("a.x", f64::from(p % 2)), ("a.y", f64::from(p / 2))]))
            .collect();
        let l = Layout::of(&Groups::of(&grid, &[]), &swept);
        assert_eq!(l.facets.len(), 2);
        assert_eq!(l.facets[0].label, "y=0");
        assert_eq!(l.facets[1].points, vec![2, 3]);
        assert!(l.connect);
        let zip: Vec<RunInfo> =
            (0..4).map(|p| run(p, p, 0, "", &[("a.x", f64::from(3 - p)), ("a.y", f64::from(p))])).collect();
        let l = Layout::of(&Groups::of(&zip, &[]), &swept);
        assert_eq!(l.facets.len(), 1);
        assert_eq!(l.facets[0].points, vec![3, 2, 1, 0], "ordered by x");
        assert_eq!(l.x_rank(3), 0.0);
        assert_eq!(l.x_rank(0), 1.0);
    }

    #[test]
    fn deltas_pair_replicates() {
        // Two points × variants b (first), a × 3 replicates; value = run id².
        let mut runs = Vec::new();
        for p in 0..2 {
            for (k, v) in ["b", "a"].iter().enumerate() {
                for r in 0..3 {
                    let id = p * 6 + k as u32 * 3 + r;
                    runs.push(run(id, p, r, v, &[("s.x", f64::from(p) * 0.5)]));
                }
            }
        }
        let groups = Groups::of(&runs, &["b".into(), "a".into()]);
        let layout = Layout::of(&groups, &["s.x".to_string()]);
        assert_eq!(layout.variants, ["b", "a"]);
        let values: Vec<f64> = (0..12).map(|i| f64::from(i * i)).collect();
        let t = at_tick(&values, &runs, &groups, &layout);
        assert_eq!(t.by_parameter.len(), 2);
        assert_eq!(t.by_parameter[0].median, vec![1.0, 49.0]); // runs 0,1,2 and 6,7,8
        assert_eq!(t.delta.len(), 1);
        // Point 0: (3² − 0², 4² − 1², 5² − 2²) = (9, 15, 21).
        let d = &t.delta[0];
        assert_eq!(d.key, "a");
        assert_eq!(d.median[0], 15.0);
        assert!((d.p5[0] - (9.0 + 0.1 * 6.0)).abs() < 1e-12);
        assert_eq!(d.n, vec![3, 3]);
        let chunks = vec![TickChunk {
            keys: vec![super::super::aggregate::key(0, 10, 11), super::super::aggregate::key(0, 9, 11)],
            runs: vec![1, 1],
            values: vec![vec![5.0, 4.0]],
        }];
        let at = values_at(&chunks, 1, 11, &[10, 10]);
        assert!(at[0][0].is_nan());
        assert_eq!(at[0][1], 5.0);
    }
}
