//! Risk across runs: for every property and every (point, variant) group,
//! how many runs failed, P(fail) with a 95 % Wilson score interval, the
//! worst margin and its run, and the gate's verdict.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % Wilson score interval of a binomial proportion: `failures` of
/// `runs`. Unlike the normal approximation it stays inside [0, 1] and is
/// not degenerate at 0 or `runs` failures.
///
/// ```
/// let (lo, hi) = tokensim::properties::risk::wilson(0, 20);
/// assert_eq!(lo, 0.0);
/// assert!((hi - 0.1611).abs() < 1e-4);
/// ```
pub fn wilson(failures: u64, runs: u64) -> (f64, f64) {
    if runs == 0 {
        return (0.0, 1.0);
    }
    let n = runs as f64;
    let p = failures as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0 or n failures one bound is exactly 0 or 1; rounding must not
    // move it.
    let lo = if failures == 0 { 0.0 } else { (center - half).max(0.0) };
    let hi = if failures == runs { 1.0 } else { (center + half).min(1.0) };
    (lo, hi)
}

/// Half the width of the 95 % Wilson interval.
pub fn half_width(failures: u64, runs: u64) -> f64 {
    let (lo, hi) = wilson(failures, runs);
    (hi - lo) / 2.0
}

/// The name the mechanism-invariant row of a risk table carries.
pub const INVARIANTS: &str = "(mechanism invariants)";

/// One row of the risk table: a property in one group of runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskRow {
    /// Property name, or [`INVARIANTS`] for runs with a violation.
    pub property: String,
    /// The parameter point.
    pub point_id: u32,
    /// The variant (empty without variants).
    pub variant: String,
    /// Runs in the group.
    pub runs: u64,
    /// Runs where it failed.
    pub failures: u64,
    /// `failures / runs`.
    pub p_fail: f64,
    /// Lower bound of the 95 % Wilson interval.
    pub ci_low: f64,
    /// Upper bound of the 95 % Wilson interval.
    pub ci_high: f64,
    /// Least margin over the group's runs (`None` for invariants, or when
    /// unbounded).
    pub worst_margin: Option<f64>,
    /// The run with the least margin.
    pub worst_run_id: Option<u32>,
    /// The property's gate, if it has one.
    pub max_failure_rate: Option<f64>,
    /// `pass` / `fail` against the gate (`fail` where the interval's upper
    /// bound exceeds the rate: not shown safe at 95 %), or `none`.
    pub gate: String,
}

/// What one run contributes to the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The run.
    pub run_id: u32,
    /// Its point.
    pub point_id: u32,
    /// Its variant.
    pub variant: String,
    /// `(held, margin)` per property, in scenario order.
    pub verdicts: Vec<(bool, f64)>,
    /// Invariant violations it recorded.
    pub violations: u64,
}

/// The declared properties' names and gates, in scenario order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gates {
    /// `(name, max_failure_rate)`.
    pub properties: Vec<(String, Option<f64>)>,
}

/// The risk table of `outcomes`: groups in (point, variant-first-seen)
/// order, each with one row per property and one for invariants.
pub fn risk_table(gates: &Gates, outcomes: &[RunOutcome]) -> Vec<RiskRow> {
    let mut groups: Vec<(u32, &str)> = Vec::new();
    for o in outcomes {
        if !groups.contains(&(o.point_id, o.variant.as_str())) {
            groups.push((o.point_id, &o.variant));
        }
    }
    // Variants keep the order they first appear in (the scenario's order,
    // since run ids go point, variant, replicate).
    let variants: Vec<&str> = groups.iter().map(|g| g.1).fold(Vec::new(), |mut seen, v| {
        if !seen.contains(&v) {
            seen.push(v);
        }
        seen
    });
    groups.sort_by_key(|g| (g.0, variants.iter().position(|v| *v == g.1)));
    let mut rows = Vec::new();
    for &(point, variant) in &groups {
        let runs: Vec<&RunOutcome> =
            outcomes.iter().filter(|o| o.point_id == point && o.variant == variant).collect();
        for (k, (name, rate)) in gates.properties.iter().enumerate() {
            let failures = runs.iter().filter(|o| !o.verdicts.get(k).is_some_and(|v| v.0)).count() as u64;
            let worst = runs
                .iter()
                .filter_map(|o| o.verdicts.get(k).map(|v| (v.1, o.run_id)))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows.push(row(name, point, variant, runs.len() as u64, failures, worst, *rate));
        }
        let failures = runs.iter().filter(|o| o.violations > 0).count() as u64;
        rows.push(row(INVARIANTS, point, variant, runs.len() as u64, failures, None, Some(0.0)));
    }
    rows
}

fn row(
    property: &str,
    point_id: u32,
    variant: &str,
    runs: u64,
    failures: u64,
    worst: Option<(f64, u32)>,
    max_failure_rate: Option<f64>,
) -> RiskRow {
    let (ci_low, ci_high) = wilson(failures, runs);
    let invariants = property == INVARIANTS;
    let gate = match max_failure_rate {
        // An invariant broken in any run is exit 3, whatever the interval.
        Some(_) if invariants => {
            if failures > 0 {
                "fail"
            } else {
                "pass"
            }
        }
        Some(r) => {
            if ci_high > r {
                "fail"
            } else {
                "pass"
            }
        }
        None => "none",
    };
    RiskRow {
        property: property.to_string(),
        point_id,
        variant: variant.to_string(),
        runs,
        failures,
        p_fail: if runs == 0 { 0.0 } else { failures as f64 / runs as f64 },
        ci_low,
        ci_high,
        worst_margin: worst.map(|w| w.0).filter(|m| m.is_finite()),
        worst_run_id: worst.map(|w| w.1),
        max_failure_rate: if invariants { None } else { max_failure_rate },
        gate: gate.to_string(),
    }
}

/// Why an adaptive experiment stopped (in the manifest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveOutcome {
    /// The `--ci-width` asked for.
    pub half_width: f64,
    /// The `--max-runs` allowed.
    pub max_runs: u32,
    /// Replicates per group run.
    pub replicates: u32,
    /// The widest half-width at the stop.
    pub widest_half_width: f64,
    /// In words.
    pub reason: String,
}

/// The rows whose gate failed, properties only (invariants are exit 3).
pub fn gate_failures(rows: &[RiskRow]) -> Vec<&RiskRow> {
    rows.iter().filter(|r| r.property != INVARIANTS && r.gate == "fail").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // Reference values: Wilson (1927) score interval, z = 1.96.
        let close = |a: f64, b: f64| (a - b).abs() < 5e-5;
        let (lo, hi) = wilson(0, 20);
        assert!(lo == 0.0 && close(hi, 0.16113), "{lo} {hi}");
        let (lo, hi) = wilson(3, 20);
        assert!(close(lo, 0.05236) && close(hi, 0.36040), "{lo} {hi}");
        let (lo, hi) = wilson(20, 20);
        assert!(close(lo, 0.83887) && hi == 1.0, "{lo} {hi}");
        let (lo, hi) = wilson(50, 100);
        assert!(close(lo, 0.40383) && close(hi, 0.59617), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    fn outcome(run_id: u32, point_id: u32, variant: &str, held: bool, margin: f64) -> RunOutcome {
        RunOutcome {
            run_id,
            point_id,
            variant: variant.into(),
            verdicts: vec![(held, margin)],
            violations: 0,
        }
    }

    #[test]
    fn the_gate_fails_when_the_upper_bound_exceeds_the_rate() {
        // 0 failures of 20: upper bound 0.1611.
        let outcomes: Vec<RunOutcome> = (0..20).map(|i| outcome(i, 0, "", true, 1.0 + i as f64)).collect();
        let gate = |rate: f64| {
            let g = Gates { properties: vec![("p".into(), Some(rate))] };
            risk_table(&g, &outcomes)[0].gate.clone()
        };
        assert_eq!(gate(0.17), "pass");
        assert_eq!(gate(0.161), "fail");
        assert_eq!(gate(0.05), "fail");
    }

    #[test]
    fn groups_worst_margins_and_invariants() {
        let mut outcomes = vec![
            outcome(0, 0, "b", true, 2.0),
            outcome(1, 0, "b", false, -3.0),
            outcome(2, 0, "a", true, 0.5),
            outcome(3, 1, "b", true, 1.0),
        ];
        outcomes[3].violations = 2;
        let g = Gates { properties: vec![("p".into(), None)] };
        let rows = risk_table(&g, &outcomes);
        let keys: Vec<(&str, u32, &str)> =
            rows.iter().map(|r| (r.property.as_str(), r.point_id, r.variant.as_str())).collect();
        assert_eq!(
            keys,
            vec![
                ("p", 0, "b"),
                (INVARIANTS, 0, "b"),
                ("p", 0, "a"),
                (INVARIANTS, 0, "a"),
                ("p", 1, "b"),
                (INVARIANTS, 1, "b")
            ]
        );
        assert_eq!(
            (rows[0].runs, rows[0].failures, rows[0].worst_margin, rows[0].worst_run_id),
            (2, 1, Some(-3.0), Some(1))
        );
        assert_eq!(rows[0].gate, "none");
        assert_eq!((rows[5].failures, rows[5].gate.as_str()), (1, "fail"));
        assert!(gate_failures(&rows).is_empty());
    }
}
