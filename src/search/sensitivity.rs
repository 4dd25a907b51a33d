//! Sensitivity estimators on the designs of [`super::design`].
//!
//! - **Morris** elementary effects: for each trajectory step that moves
//!   dimension `i` by Δ (unit coordinates), `EE = (y_after − y_before) / Δ`;
//!   `μ* = mean |EE|` (importance), `μ = mean EE` (direction), `σ` = their
//!   standard deviation (interaction or non-linearity; 0 with one
//!   trajectory).
//! - **Sobol** indices from Saltelli's design, as in SALib: first order
//!   `S1_i = mean(f(B)·(f(AB_i) − f(A))) / V` (Saltelli 2010), total
//!   `ST_i = mean((f(A) − f(AB_i))²) / (2V)` (Jansen), `V` the variance of
//!   `f(A) ∪ f(B)`; 95 % intervals are percentiles of a seeded bootstrap
//!   over the samples. A constant output has every index 0.

use rand::RngExt;

use super::design::MorrisDesign;
use crate::engine::rng::{Stream, stream_rng};

/// Morris indices of one dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MorrisIndex {
    /// Mean absolute elementary effect.
    pub mu_star: f64,
    /// Mean elementary effect.
    pub mu: f64,
    /// Standard deviation of the elementary effects.
    pub sigma: f64,
}

/// Sobol indices of one dimension with 95 % bootstrap intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SobolIndex {
    /// First-order index.
    pub s1: f64,
    /// Lower end of its interval.
    pub s1_low: f64,
    /// Upper end of its interval.
    pub s1_high: f64,
    /// Total-order index.
    pub st: f64,
    /// Lower end of its interval.
    pub st_low: f64,
    /// Upper end of its interval.
    pub st_high: f64,
}

/// Morris indices of the `d` dimensions from outputs `y` at the design's
/// points (in point order).
pub fn morris_indices(design: &MorrisDesign, d: usize, y: &[f64]) -> Vec<MorrisIndex> {
    assert_eq!(y.len(), design.points.len(), "one output per design point");
    let mut effects: Vec<Vec<f64>> = vec![Vec::new(); d];
    for (k, m) in design.moves.iter().enumerate() {
        if let Some((i, step)) = *m {
            effects[i].push((y[k] - y[k - 1]) / step);
        }
    }
    effects
        .iter()
        .map(|ee| {
            let n = ee.len() as f64;
            let mu = ee.iter().sum::<f64>() / n;
            let mu_star = ee.iter().map(|e| e.abs()).sum::<f64>() / n;
            let sigma = if ee.len() < 2 {
                0.0
            } else {
                (ee.iter().map(|e| (e - mu).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            };
            MorrisIndex { mu_star, mu, sigma }
        })
        .collect()
}

/// Bootstrap resamples of [`sobol_indices`].
pub const RESAMPLES: usize = 1000;

/// Sobol indices of the `d` dimensions from outputs `y` on Saltelli's
/// design (`N·(d+2)` values in point order), with `resamples` bootstrap
/// resamples drawn from `seed`.
pub fn sobol_indices(d: usize, y: &[f64], resamples: usize, seed: u64) -> Vec<SobolIndex> {
    let n = y.len() / (d + 2);
    assert_eq!(y.len(), n * (d + 2), "N·(d+2) outputs");
    let a = |j: usize| y[j * (d + 2)];
    let ab = |j: usize, i: usize| y[j * (d + 2) + 1 + i];
    let b = |j: usize| y[j * (d + 2) + d + 1];
    // (S1, ST) of every dimension over samples `rows`.
    let estimate = |rows: &mut dyn Iterator<Item = usize>| -> Vec<(f64, f64)> {
        let rows: Vec<usize> = rows.collect();
        let m = rows.len() as f64;
        let mean = rows.iter().map(|&j| a(j) + b(j)).sum::<f64>() / (2.0 * m);
        let var =
            rows.iter().map(|&j| (a(j) - mean).powi(2) + (b(j) - mean).powi(2)).sum::<f64>() / (2.0 * m);
        (0..d)
            .map(|i| {
                if var <= 0.0 {
                    return (0.0, 0.0);
                }
                let s1 = rows.iter().map(|&j| b(j) * (ab(j, i) - a(j))).sum::<f64>() / m / var;
                let st = rows.iter().map(|&j| (a(j) - ab(j, i)).powi(2)).sum::<f64>() / m / (2.0 * var);
                (s1, st)
            })
            .collect()
    };
    let point = estimate(&mut (0..n));
    let mut rng = stream_rng(seed, Stream::Sweep, &[0xB007]);
    let boots: Vec<Vec<(f64, f64)>> = (0..resamples)
        .map(|_| {
            let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            estimate(&mut rows.into_iter())
        })
        .collect();
    (0..d)
        .map(|i| {
            let (s1_low, s1_high) = interval(boots.iter().map(|b| b[i].0).collect());
            let (st_low, st_high) = interval(boots.iter().map(|b| b[i].1).collect());
            SobolIndex { s1: point[i].0, s1_low, s1_high, st: point[i].1, st_low, st_high }
        })
        .collect()
}

/// The 2.5 % and 97.5 % percentiles (nearest rank) of `values`.
fn interval(mut values: Vec<f64>) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::design::{morris, saltelli};
    use std::f64::consts::PI;

    fn ishigami(x: &[f64]) -> f64 {
        let (a, b) = (7.0, 0.1);
        x[0].sin() + a * x[1].sin().powi(2) + b * x[2].powi(4) * x[0].sin()
    }

    #[test]
    fn sobol_indices_of_the_ishigami_function() {
        // Closed form (a = 7, b = 0.1 on [−π, π]³): V = a²/8 + bπ⁴/5 + b²π⁸/18 + 1/2,
        // V1 = (1 + bπ⁴/5)²/2, V2 = a²/8, V3 = 0, V13 = b²π⁸(1/18 − 1/50).
        let (a, b) = (7.0f64, 0.1f64);
        let v = a * a / 8.0 + b * PI.powi(4) / 5.0 + b * b * PI.powi(8) / 18.0 + 0.5;
        let v1 = (1.0 + b * PI.powi(4) / 5.0).powi(2) / 2.0;
        let v2 = a * a / 8.0;
        let v13 = b * b * PI.powi(8) * (1.0 / 18.0 - 1.0 / 50.0);
        let s1 = [v1 / v, v2 / v, 0.0];
        let st = [(v1 + v13) / v, v2 / v, v13 / v];
        assert!((s1[0] - 0.314).abs() < 1e-3 && (st[2] - 0.244).abs() < 1e-3, "closed form");

        let (n, d) = (8192, 3);
        let y: Vec<f64> = saltelli(n, d, 1)
            .iter()
            .map(|u| ishigami(&u.iter().map(|&u| -PI + 2.0 * PI * u).collect::<Vec<_>>()))
            .collect();
        let idx = sobol_indices(d, &y, 200, 1);
        for i in 0..d {
            assert!((idx[i].s1 - s1[i]).abs() < 0.02, "S1[{i}] = {} vs {}", idx[i].s1, s1[i]);
            assert!((idx[i].st - st[i]).abs() < 0.02, "ST[{i}] = {} vs {}", idx[i].st, st[i]);
            assert!(idx[i].s1_low <= idx[i].s1 && idx[i].s1 <= idx[i].s1_high, "{:?}", idx[i]);
            assert!(idx[i].st_low <= idx[i].st && idx[i].st <= idx[i].st_high, "{:?}", idx[i]);
            assert!(idx[i].s1_high - idx[i].s1_low < 0.1);
        }
        assert_eq!(idx, sobol_indices(d, &y, 200, 1), "reproducible from the seed");
    }

    #[test]
    fn morris_gives_an_inert_input_zero_and_a_linear_one_its_slope() {
        // f = 3·x0 − 2·x1² + 0·x2 (unit coordinates).
        let (d, r) = (3, 10);
        let design = morris(d, r, 4, 2);
        let y: Vec<f64> = design.points.iter().map(|u| 3.0 * u[0] - 2.0 * u[1] * u[1]).collect();
        let idx = morris_indices(&design, d, &y);
        assert_eq!((idx[2].mu_star, idx[2].mu, idx[2].sigma), (0.0, 0.0, 0.0), "inert input");
        assert!((idx[0].mu_star - 3.0).abs() < 1e-12 && (idx[0].mu - 3.0).abs() < 1e-12);
        assert!(idx[0].sigma < 1e-12, "linear: every effect equal");
        assert!(idx[1].mu_star > 0.0 && idx[1].mu < 0.0);
    }

    #[test]
    fn constant_output_has_zero_indices() {
        let idx = sobol_indices(2, &[5.0; 40], 10, 1);
        assert!(idx.iter().all(|i| i.s1 == 0.0 && i.st == 0.0 && i.s1_high == 0.0));
    }
}
