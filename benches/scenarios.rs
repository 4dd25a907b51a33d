//! Throughput of every shipped use-case scenario, as shipped (all its
//! points, variants and replicates, with its Parquet output): how fast the
//! mechanism library runs, in agent-ticks per second summed over runs.
//!
//! Run with `cargo bench --bench scenarios`.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokensim::experiment::{RunOptions, Silent, expand, run_experiment};
use tokensim::prelude::*;

const SCENARIOS: [&str; 5] =
    ["amm_arbitrage", "commons_abc", "lending_cascade", "staking_emission", "vesting_unlock"];

/// Agent-ticks of every run of the experiment.
fn agent_ticks(loaded: &LoadedScenario) -> u64 {
    let plan = expand(loaded).expect("scenario expands");
    plan.runs
        .iter()
        .map(|run| {
            let sc = &plan.scenarios[run.scenario].scenario;
            sc.populations.values().map(|p| p.count).sum::<u64>() * u64::from(sc.ticks)
        })
        .sum()
}

fn shipped(c: &mut Criterion) {
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("scenarios");
    group.sample_size(10);
    for name in SCENARIOS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
        let loaded = LoadedScenario::load(&path).expect("shipped scenario loads");
        group.throughput(Throughput::Elements(agent_ticks(&loaded)));
        let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join(name)) };
        group.bench_function(name, |b| {
            b.iter(|| run_experiment(&loaded, &registry, &opts, &Silent).expect("run"));
        });
    }
    group.finish();
}

criterion_group!(benches, shipped);
criterion_main!(benches);
