//! Designs of experiments in the unit cube for sensitivity analysis:
//! Morris trajectories and Saltelli's design for Sobol indices. Both are
//! pure functions of their arguments and a seed, so the estimator can
//! recompute the design of a results directory from its manifest.
//!
//! Point order, which `point_id` follows:
//! - Morris, `r` trajectories of `d + 1` points: point `t·(d+1) + k` is
//!   step `k` of trajectory `t`; step `k ≥ 1` moves one dimension by ±Δ,
//!   Δ = p / (2(p − 1)) on a grid of `p` levels.
//! - Saltelli, `N` samples of `d + 2` points: point `j·(d+2)` is row `j` of
//!   A, `j·(d+2) + 1 + i` is A with column `i` from B (AB_i), and
//!   `j·(d+2) + d + 1` is B. A and B are the two halves of one
//!   Owen-scrambled Sobol sequence (the `sobol_burley` crate).

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::engine::rng::{Stream, hash128, stream_rng};

/// A Morris design: the points and, per trajectory step, the moved
/// dimension and its signed step in unit coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct MorrisDesign {
    /// `r·(d+1)` points in the unit cube, trajectory-major.
    pub points: Vec<Vec<f64>>,
    /// For point `t·(d+1) + k`, `k ≥ 1`: `(dimension, step)`; `None` at `k = 0`.
    pub moves: Vec<Option<(usize, f64)>>,
}

/// Largest number of Saltelli samples (the Sobol sequence's limit).
pub const MAX_SOBOL_SAMPLES: usize = 1 << 16;
/// Largest number of dimensions of a Saltelli design (two per dimension).
pub const MAX_SOBOL_DIMS: usize = sobol_burley::NUM_DIMENSIONS as usize / 2;

/// `trajectories` Morris trajectories over `d` dimensions on a grid of
/// `levels` levels (even, at least 2), from `seed`.
pub fn morris(d: usize, trajectories: usize, levels: usize, seed: u64) -> MorrisDesign {
    let mut rng = stream_rng(seed, Stream::Sweep, &[]);
    let delta = levels as f64 / (2.0 * (levels as f64 - 1.0));
    // Levels k/(p−1) from which a step of +Δ stays in the cube.
    let starts = levels / 2;
    let mut points = Vec::with_capacity(trajectories * (d + 1));
    let mut moves = Vec::with_capacity(points.capacity());
    for _ in 0..trajectories {
        let low: Vec<f64> =
            (0..d).map(|_| rng.random_range(0..starts) as f64 / (levels as f64 - 1.0)).collect();
        let up: Vec<bool> = (0..d).map(|_| rng.random::<bool>()).collect();
        let mut order: Vec<usize> = (0..d).collect();
        order.shuffle(&mut rng);
        let mut x: Vec<f64> = (0..d).map(|i| if up[i] { low[i] } else { low[i] + delta }).collect();
        points.push(x.clone());
        moves.push(None);
        for &i in &order {
            let step = if up[i] { delta } else { -delta };
            x[i] = if up[i] { low[i] + delta } else { low[i] };
            points.push(x.clone());
            moves.push(Some((i, step)));
        }
    }
    MorrisDesign { points, moves }
}

/// Saltelli's design of `n` samples over `d` dimensions: `n·(d+2)` points
/// in the order described in the module documentation, from `seed`.
/// `n ≤ MAX_SOBOL_SAMPLES` and `d ≤ MAX_SOBOL_DIMS`.
pub fn saltelli(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    assert!(n <= MAX_SOBOL_SAMPLES && d <= MAX_SOBOL_DIMS, "checked by the caller");
    let scramble = (hash128(&[seed, Stream::Sweep as u64]) >> 96) as u32;
    let u = |j: usize, dim: usize| f64::from(sobol_burley::sample(j as u32, dim as u32, scramble));
    let mut points = Vec::with_capacity(n * (d + 2));
    for j in 0..n {
        let a: Vec<f64> = (0..d).map(|i| u(j, i)).collect();
        let b: Vec<f64> = (0..d).map(|i| u(j, d + i)).collect();
        points.push(a.clone());
        for i in 0..d {
            let mut ab = a.clone();
            ab[i] = b[i];
            points.push(ab);
        }
        points.push(b);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn morris_steps_move_one_dimension_by_delta_inside_the_cube() {
        let (d, r, p) = (5, 20, 4);
        let m = morris(d, r, p, 9);
        assert_eq!(m.points.len(), r * (d + 1));
        let delta = 4.0 / 6.0;
        for t in 0..r {
            let mut moved = Vec::new();
            for k in 1..=d {
                let (a, b) = (&m.points[t * (d + 1) + k - 1], &m.points[t * (d + 1) + k]);
                let (i, step) = m.moves[t * (d + 1) + k].unwrap();
                assert!((b[i] - a[i] - step).abs() < 1e-12 && (step.abs() - delta).abs() < 1e-12);
                assert_eq!((0..d).filter(|&j| a[j] != b[j]).count(), 1);
                moved.push(i);
            }
            moved.sort();
            assert_eq!(moved, (0..d).collect::<Vec<_>>(), "each dimension once per trajectory");
        }
        assert!(m.points.iter().flatten().all(|&u| (0.0..=1.0 + 1e-12).contains(&u)));
        assert_eq!(m, morris(d, r, p, 9), "reproducible from the seed");
        assert_ne!(m.points, morris(d, r, p, 10).points);
    }

    #[test]
    fn saltelli_rows_are_a_ab_b() {
        let (n, d) = (16, 3);
        let s = saltelli(n, d, 4);
        assert_eq!(s.len(), n * (d + 2));
        for j in 0..n {
            let (a, b) = (&s[j * (d + 2)], &s[j * (d + 2) + d + 1]);
            for i in 0..d {
                let ab = &s[j * (d + 2) + 1 + i];
                for k in 0..d {
                    assert_eq!(ab[k], if k == i { b[k] } else { a[k] });
                }
            }
        }
        // Each column of A is stratified: one point in each 1/n interval.
        let column =
            |i: usize| -> Vec<usize> { (0..n).map(|j| (s[j * (d + 2)][i] * n as f64) as usize).collect() };
        for mut strata in (0..d).map(column) {
            strata.sort();
            assert_eq!(strata, (0..n).collect::<Vec<_>>());
        }
        assert_eq!(s, saltelli(n, d, 4));
        assert_ne!(s, saltelli(n, d, 5));
    }
}
