//! Your own mechanism and behaviour, next to the built-in ones.
//!
//! A `faucet` contract pays a fixed drip of an asset to whoever claims, until
//! it runs dry; a `dip_buyer` behaviour claims from the faucet every tick and
//! buys on a venue whenever the venue's price is below its limit. Both
//! register through the same `Registry` API the built-ins use, so a
//! scenario names them like any other kind, with located errors for bad
//! parameters, and the engine checks conservation every tick.
//!
//!     cargo run --example custom_mechanism

use std::path::Path;

use tokensim::experiment::{RunOptions, Silent, run_experiment};
use tokensim::prelude::*;

#[path = "user_crate/src/faucet.rs"]
mod faucet;

/// The scenario the example user crate ships (`examples/user_crate/`).
const SCENARIO: &str = include_str!("user_crate/faucet_dips.toml");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::builtin();
    faucet::register(&mut registry);
    let scenario = LoadedScenario::from_str(Path::new("faucet_dips.toml"), SCENARIO)?;

    // Step it yourself...
    let mut sim = Simulation::new(&scenario, &registry, &RunSpec::single(1))?;
    let column = |name: &str| sim.metric_columns.iter().position(|c| c.name == name).expect(name);
    let (balance, price) = (column("faucet_balance"), column("curve_price"));
    while sim.tick() < sim.ticks {
        let log = sim.step();
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        if sim.tick() % 5 == 0 {
            let log = sim.log();
            println!(
                "tick {:>2}: faucet {:>8.0} DAI left, price {:.4}, {} transactions, {} rejected",
                sim.tick(),
                log.metrics[balance],
                log.metrics[price],
                log.n_tx,
                log.n_rejected
            );
        }
    }

    // ...or run it as an experiment into a Parquet dataset.
    let dir = std::env::temp_dir().join("tokensim-faucet-example");
    let opts = RunOptions { force: true, ..RunOptions::new(dir.clone()) };
    let summary = run_experiment(&scenario, &registry, &opts, &Silent)?;
    println!("{} run(s) written to {}", summary.manifest.runs, summary.out_dir.display());
    Ok(())
}
