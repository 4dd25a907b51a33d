//! Minimising a loss over a [`Space`]: a Latin hypercube (generation 0),
//! then CMA-ES (the `cmaes` crate) from the best point found, restarted
//! with a doubled population (IPOP) when it converges.
//!
//! The optimiser works in the unit cube; a candidate outside it is folded
//! back in by reflection, so the box needs no penalty whose scale would
//! depend on the loss. The caller evaluates one generation at a time (and
//! may run its candidates in parallel). Everything is a function of
//! `seed`: the hypercube comes from [`stream_rng`], and each CMA-ES run is
//! seeded from `(seed, restart)`.
//!
//! `cmaes` has no ask/tell interface (it calls its objective one point at
//! a time), so each generation is *asked* by replaying the current run
//! from its seed with the losses already known and recording the points it
//! samples next; the replay costs a few matrix updates per generation,
//! nothing beside a simulation.

use std::cell::RefCell;

use cmaes::{CMAESOptions, DVector};
use rand::RngExt;
use rand::seq::SliceRandom;

use super::space::Space;
use crate::engine::rng::{Stream, hash128, stream_rng};
use crate::error::Error;

/// One evaluated candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Position in evaluation order, from 0.
    pub eval_id: u64,
    /// 0 for the Latin hypercube, then one per CMA-ES generation.
    pub generation: u32,
    /// The candidate in real units (integer dimensions rounded).
    pub x: Vec<f64>,
    /// Its loss (lower is better; NaN ranks last).
    pub loss: f64,
}

/// How long and from where to search.
#[derive(Clone, Debug)]
pub struct OptimiseOptions {
    /// Candidate evaluations in total.
    pub budget: usize,
    /// Seed of the hypercube and of every CMA-ES run.
    pub seed: u64,
    /// Latin hypercube points of generation 0.
    pub initial: usize,
}

/// Index of the optimiser's hypercube in [`Stream::Sweep`] (a sweep uses
/// none), so it never coincides with a `[sweep]` sample.
const LHS_STREAM: u64 = 0x5EA2_C400;
/// Initial CMA-ES step size, in unit-cube coordinates.
const SIGMA0: f64 = 0.3;
/// Largest population a restart grows to.
const MAX_POPULATION: usize = 512;

/// Evaluates one generation: `(generation, candidates in real units)` →
/// one loss per candidate, in order.
pub type Evaluator<'a> = dyn FnMut(u32, &[Vec<f64>]) -> Result<Vec<f64>, Error> + 'a;

/// Minimises `evaluate`'s loss over `space` within `opts.budget`
/// candidates, stopping early when `stop` (called after every generation
/// with every evaluation so far) says so. Returns every evaluation in
/// order.
pub fn minimise(
    space: &Space,
    opts: &OptimiseOptions,
    evaluate: &mut Evaluator<'_>,
    stop: &mut dyn FnMut(&[Evaluation]) -> bool,
) -> Result<Vec<Evaluation>, Error> {
    let d = space.dims.len();
    if d == 0 {
        return Err(Error::Run("the search space has no dimension".into()));
    }
    let mut evals: Vec<Evaluation> = Vec::new();
    let mut run =
        |generation: u32, units: Vec<Vec<f64>>, evals: &mut Vec<Evaluation>| -> Result<Vec<f64>, Error> {
            let xs: Vec<Vec<f64>> = units.iter().map(|u| space.from_unit(u)).collect();
            let losses = evaluate(generation, &xs)?;
            if losses.len() != xs.len() {
                return Err(Error::Run(format!("{} losses for {} candidates", losses.len(), xs.len())));
            }
            for (x, &loss) in xs.into_iter().zip(&losses) {
                evals.push(Evaluation { eval_id: evals.len() as u64, generation, x, loss });
            }
            Ok(losses)
        };

    let n0 = opts.initial.max(1).min(opts.budget);
    if n0 == 0 {
        return Ok(evals);
    }
    let mut rng = stream_rng(opts.seed, Stream::Sweep, &[LHS_STREAM]);
    let initial = latin_hypercube(n0, d, &mut rng);
    let losses = run(0, initial.clone(), &mut evals)?;
    if stop(&evals) {
        return Ok(evals);
    }
    let mut best = initial[argmin(&losses)].clone();
    let mut restart = 0u64;
    let mut lambda = (4 + (3.0 * (d as f64).ln()).floor() as usize).max(4);
    let mut mean = best.clone();
    let mut known: Vec<f64> = Vec::new();
    let mut generation = 1u32;
    while evals.len() < opts.budget {
        let cma_seed = (hash128(&[opts.seed, LHS_STREAM, restart]) >> 64) as u64;
        let Some(asked) = ask(&mean, lambda, cma_seed, &known)? else {
            // Converged: restart from the best point with twice the population.
            restart += 1;
            lambda = (lambda * 2).min(MAX_POPULATION);
            mean = best.clone();
            known.clear();
            continue;
        };
        let take = asked.len().min(opts.budget - evals.len());
        let units: Vec<Vec<f64>> =
            asked[..take].iter().map(|y| y.iter().map(|&v| reflect(v)).collect()).collect();
        let losses = run(generation, units.clone(), &mut evals)?;
        known.extend(losses.iter().map(|&l| if l.is_nan() { f64::INFINITY } else { l }));
        let i = argmin(&losses);
        let best_loss = evals.iter().map(|e| e.loss).filter(|l| !l.is_nan()).fold(f64::INFINITY, f64::min);
        if losses[i] <= best_loss {
            best = units[i].clone();
        }
        generation += 1;
        if stop(&evals) {
            break;
        }
    }
    Ok(evals)
}

/// The points CMA-ES (seeded `seed`, started at `mean`) samples after the
/// generations whose losses are `known`; `None` when it has converged.
fn ask(mean: &[f64], lambda: usize, seed: u64, known: &[f64]) -> Result<Option<Vec<Vec<f64>>>, Error> {
    struct Tape {
        calls: usize,
        asked: Vec<Vec<f64>>,
    }
    let tape = RefCell::new(Tape { calls: 0, asked: Vec::new() });
    let objective = |x: &DVector<f64>| {
        let mut t = tape.borrow_mut();
        t.calls += 1;
        match known.get(t.calls - 1) {
            Some(&v) => v,
            None => {
                t.asked.push(x.iter().copied().collect());
                0.0
            }
        }
    };
    let mut cma = CMAESOptions::new(mean.to_vec(), SIGMA0)
        .population_size(lambda)
        .seed(seed)
        .build(objective)
        .map_err(|e| Error::Run(format!("CMA-ES options: {e:?}")))?;
    for _ in 0..known.len() / lambda {
        if cma.next().is_some() {
            return Ok(None);
        }
    }
    let _ = cma.next();
    drop(cma);
    Ok(Some(tape.into_inner().asked))
}

/// Folds a real coordinate into [0, 1] by reflection at its edges.
fn reflect(v: f64) -> f64 {
    let m = v.rem_euclid(2.0);
    if m > 1.0 { 2.0 - m } else { m }
}

fn argmin(losses: &[f64]) -> usize {
    let key = |l: f64| if l.is_nan() { f64::INFINITY } else { l };
    (0..losses.len()).fold(0, |b, i| if key(losses[i]) < key(losses[b]) { i } else { b })
}

/// `n` points in the unit cube of dimension `d`, one in each of `n` equal
/// strata of every axis.
pub fn latin_hypercube(n: usize, d: usize, rng: &mut impl rand::Rng) -> Vec<Vec<f64>> {
    let mut points = vec![vec![0.0; d]; n];
    for j in 0..d {
        let mut strata: Vec<usize> = (0..n).collect();
        strata.shuffle(rng);
        for (p, s) in points.iter_mut().zip(strata) {
            let u: f64 = rng.random();
            p[j] = (s as f64 + u) / n as f64;
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::space::Dim;

    fn space(d: usize, low: f64, high: f64) -> Space {
        let dim = |i: usize| Dim { path: format!("x{i}"), low, high, integer: false, base: None };
        Space { dims: (0..d).map(dim).collect(), replicates: 1 }
    }

    fn run(space: &Space, seed: u64, budget: usize, f: &dyn Fn(&[f64]) -> f64) -> Vec<Evaluation> {
        let opts = OptimiseOptions { budget, seed, initial: 10 };
        let mut evaluate = |_g: u32, xs: &[Vec<f64>]| Ok(xs.iter().map(|x| f(x)).collect());
        minimise(space, &opts, &mut evaluate, &mut |_| false).unwrap()
    }

    fn best(evals: &[Evaluation]) -> &Evaluation {
        evals.iter().min_by(|a, b| a.loss.total_cmp(&b.loss)).unwrap()
    }

    #[test]
    fn finds_the_minimum_of_a_shifted_sphere_deterministically() {
        let s = space(4, -5.0, 5.0);
        let centre = [1.5, -2.0, 0.5, 3.0];
        let sphere = |x: &[f64]| x.iter().zip(&centre).map(|(a, c)| (a - c).powi(2)).sum::<f64>();
        let evals = run(&s, 7, 1500, &sphere);
        assert_eq!(evals.len(), 1500);
        let b = best(&evals);
        assert!(b.loss < 1e-6, "best {b:?}");
        assert_eq!(evals, run(&s, 7, 1500, &sphere), "same seed, same evaluations");
        assert_ne!(evals[0].x, run(&s, 8, 20, &sphere)[0].x, "another seed, another hypercube");
        assert!(evals.iter().all(|e| e.x.iter().all(|v| (-5.0..=5.0).contains(v))), "inside the box");
        assert_eq!(evals.iter().filter(|e| e.generation == 0).count(), 10);
    }

    #[test]
    fn finds_rosenbrock_and_a_minimum_on_the_boundary() {
        let s = space(2, -2.0, 2.0);
        let rosen = |x: &[f64]| 100.0 * (x[1] - x[0] * x[0]).powi(2) + (1.0 - x[0]).powi(2);
        let b = best(&run(&s, 3, 3000, &rosen)).clone();
        assert!((b.x[0] - 1.0).abs() < 1e-3 && (b.x[1] - 1.0).abs() < 1e-3, "{b:?}");
        // Linear loss: the minimum is the corner (−2, −2).
        let b = best(&run(&s, 3, 600, &|x: &[f64]| x[0] + x[1])).clone();
        assert!(b.x[0] < -1.999 && b.x[1] < -1.999, "{b:?}");
    }

    #[test]
    fn stops_when_asked_and_at_the_budget() {
        let s = space(3, 0.0, 1.0);
        let opts = OptimiseOptions { budget: 100, seed: 1, initial: 8 };
        let mut calls = Vec::new();
        let mut evaluate = |g: u32, xs: &[Vec<f64>]| {
            calls.push((g, xs.len()));
            Ok(xs.iter().map(|x| x[0]).collect())
        };
        let evals = minimise(&s, &opts, &mut evaluate, &mut |e| e.iter().any(|e| e.loss < 0.01)).unwrap();
        assert!(evals.last().unwrap().loss < 0.01 || evals.iter().any(|e| e.loss < 0.01));
        assert!(evals.len() < 100);
        assert_eq!(calls[0], (0, 8));
        let evals = run(&s, 1, 33, &|x: &[f64]| x.iter().sum());
        assert_eq!(evals.len(), 33, "the last generation is cut at the budget");
    }

    #[test]
    fn latin_hypercube_has_one_point_per_stratum() {
        let mut rng = stream_rng(5, Stream::Sweep, &[]);
        let pts = latin_hypercube(20, 3, &mut rng);
        for j in 0..3 {
            let mut strata: Vec<usize> = pts.iter().map(|p| (p[j] * 20.0) as usize).collect();
            strata.sort();
            assert_eq!(strata, (0..20).collect::<Vec<_>>());
        }
    }

    #[test]
    fn reflection_folds_into_the_unit_interval() {
        for (v, r) in [(0.25, 0.25), (1.25, 0.75), (-0.25, 0.25), (2.5, 0.5), (-1.75, 0.25)] {
            assert!((reflect(v) - r).abs() < 1e-12, "{v}");
        }
    }
}
