//! How many candidates a stress search needs to find a failure, against
//! uniform random search over the same space, median over 10 seeds.
//!
//! ```sh
//! cargo run --release --example stress_vs_random -- scenarios/lending_stress.toml solvent
//! ```
//!
//! Also estimates the failure region's share of the space from uniform
//! samples (`--share N`, default 1000 points). Both searches count
//! candidates (each runs the scenario's `[search] replicates` times, on the
//! same seeds), up to the first whose mean margin is negative.

use std::path::Path;

use rand::RngExt;
use tokensim::engine::Simulation;
use tokensim::engine::rng::{Stream, stream_rng};
use tokensim::prelude::*;
use tokensim::search::stress::{Objective, StressOptions, stress};
use tokensim::search::{Space, run_to_end, simulate};

const SEEDS: u64 = 10;
/// Candidates a search may use before it counts as not finding a failure.
const CAP: usize = 1000;
/// Random candidates evaluated together (in parallel).
const BATCH: usize = 16;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(property)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: stress_vs_random SCENARIO PROPERTY [--share N]");
        std::process::exit(2);
    };
    let share_points: usize = match args.iter().position(|a| a == "--share") {
        Some(i) => args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1000),
        None => 1000,
    };
    let registry = Registry::builtin();
    let base = LoadedScenario::load(Path::new(path))?;
    let space = Space::of(&base)?;
    let sim = Simulation::validate(&base, &registry, &RunSpec::single(base.scenario.seed))?;
    let index = sim
        .property_gates()
        .iter()
        .position(|(n, _)| n == property)
        .ok_or_else(|| Error::Run(format!("no property `{property}`")))?;
    let margin = move |sim: &mut Simulation| -> Result<f64, Error> {
        run_to_end(sim);
        Ok(sim.verdicts()[index].margin)
    };
    // Mean margin over the replicates of each candidate (real units).
    let evaluate = |xs: &[Vec<f64>]| -> Result<Vec<f64>, Error> {
        let candidates: Vec<_> = xs.iter().map(|x| space.overrides(x)).collect();
        let m = simulate(&base, &registry, &candidates, space.replicates, &margin)?;
        Ok(m.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect())
    };
    let uniform = |rng: &mut rand_pcg::Pcg64Mcg| -> Vec<f64> {
        space.from_unit(&(0..space.dims.len()).map(|_| rng.random::<f64>()).collect::<Vec<_>>())
    };

    let mut rng = stream_rng(0x5AA5, Stream::Sweep, &[1]);
    let points: Vec<Vec<f64>> = (0..share_points).map(|_| uniform(&mut rng)).collect();
    let failing = evaluate(&points)?.iter().filter(|&&m| m < 0.0).count();
    println!(
        "failure region: {failing} of {share_points} uniform points fail ({:.2} %)",
        100.0 * failing as f64 / share_points as f64
    );

    let (mut searched, mut random) = (Vec::new(), Vec::new());
    for seed in 0..SEEDS {
        let opts = StressOptions {
            budget: CAP * space.replicates as usize,
            seed,
            objective: Objective::Mean,
            stop_at_failure: true,
        };
        let out = stress(&base, &registry, &space, &opts, &margin, &mut |_| {})?;
        let first = out.records.iter().position(|r| r.margin_mean < 0.0).map_or(CAP + 1, |i| i + 1);
        let mut rng = stream_rng(seed, Stream::Sweep, &[2]);
        let mut tried = 0;
        let found = loop {
            if tried >= CAP {
                break CAP + 1;
            }
            let batch: Vec<Vec<f64>> = (0..BATCH).map(|_| uniform(&mut rng)).collect();
            let m = evaluate(&batch)?;
            if let Some(i) = m.iter().position(|&m| m < 0.0) {
                break tried + i + 1;
            }
            tried += BATCH;
        };
        println!("seed {seed}: stress search {first} candidates, random search {found}");
        searched.push(first);
        random.push(found);
    }
    let median = |v: &mut Vec<usize>| {
        v.sort();
        (v[v.len() / 2 - 1] + v[v.len() / 2]) as f64 / 2.0
    };
    let (s, r) = (median(&mut searched), median(&mut random));
    println!("median over {SEEDS} seeds: stress search {s} candidates, random search {r} ({:.2}×)", r / s);
    Ok(())
}
