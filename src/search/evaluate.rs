//! Evaluating candidates: every candidate × replicate run in parallel, in
//! memory, with results in a fixed order whatever the thread count.

use rayon::prelude::*;

use crate::engine::registry::Registry;
use crate::engine::rng::run_seed;
use crate::engine::{RunSpec, Simulation};
use crate::error::Error;
use crate::scenario::LoadedScenario;

/// Builds the scenario of every candidate (its overrides on `base`) and runs
/// `replicates` simulations of each, calling `f` on each built simulation
/// (`f` steps it). Replicate `r` of every candidate has the seed of
/// replicate `r` of `tokensim run` (common random numbers), so candidates
/// differ by their values only. Result `[c][r]` is candidate `c`,
/// replicate `r`; the first error in that order is returned.
pub fn simulate<T: Send>(
    base: &LoadedScenario,
    registry: &Registry,
    candidates: &[Vec<(String, toml::Value)>],
    replicates: u32,
    f: &(dyn Fn(&mut Simulation) -> Result<T, Error> + Sync),
) -> Result<Vec<Vec<T>>, Error> {
    let scenarios: Vec<LoadedScenario> =
        candidates.iter().map(|c| base.with_overrides(c, "search")).collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, u32)> =
        (0..candidates.len()).flat_map(|c| (0..replicates).map(move |r| (c, r))).collect();
    let results: Vec<Result<T, Error>> = jobs
        .par_iter()
        .map(|&(c, r)| {
            let scenario = &scenarios[c];
            let spec = RunSpec {
                run_id: 0,
                point_id: c as u32,
                replicate: r,
                variant: String::new(),
                seed: run_seed(scenario.scenario.seed, u64::from(r)),
                params: candidates[c].clone(),
            };
            let mut sim = Simulation::new(scenario, registry, &spec)?;
            f(&mut sim)
        })
        .collect();
    let mut out: Vec<Vec<T>> = (0..candidates.len()).map(|_| Vec::new()).collect();
    for ((c, _), result) in jobs.iter().zip(results) {
        out[*c].push(result?);
    }
    Ok(out)
}

/// Steps a simulation to its last tick.
pub fn run_to_end(sim: &mut Simulation) {
    while sim.tick() < sim.ticks {
        sim.step();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCENARIO: &str = r#"ticks = 5
assets = ["DAI", "TKN"]
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.05
treasury = "pool"
[populations.traders]
count = 50
balances = { DAI = 100.0 }
behaviours.noise_trader = { contract = "curve", p_trade = 0.5 }
"#;

    #[test]
    fn candidates_share_replicate_seeds_and_results_keep_their_order() {
        let base = LoadedScenario::from_str(Path::new("s.toml"), SCENARIO).unwrap();
        let registry = Registry::builtin();
        let cand = |t: f64| vec![("contracts.curve.entry_tribute".to_string(), toml::Value::Float(t))];
        let candidates = vec![cand(0.0), cand(0.1), cand(0.0)];
        let pool_balance = |sim: &mut Simulation| {
            run_to_end(sim);
            Ok((sim.run.seed, sim.log().metrics.clone()))
        };
        let out = simulate(&base, &registry, &candidates, 2, &pool_balance).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0][0].0, run_seed(1, 0));
        assert_eq!(out[1][1].0, run_seed(1, 1));
        assert_eq!(out[0], out[2], "same values, same seeds: same result");
        assert_ne!(out[0][0].1, out[1][0].1, "the tribute changes the metrics");
        assert_ne!(out[0][0].1, out[0][1].1, "replicates differ");
        let bad = vec![vec![("contracts.curve.entry_tribute".to_string(), toml::Value::Float(-1.0))]];
        assert!(simulate(&base, &registry, &bad, 1, &pool_balance).is_err());
    }
}
