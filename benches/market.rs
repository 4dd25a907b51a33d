//! Benchmarks of the `market` model (shared/benchmarks/market.md):
//! tokensim end to end (build, 365 ticks, Parquet output) at 100,000
//! agents, with and without the per-transaction events table, and a
//! hand-written struct-of-arrays loop of the same model as the baseline a
//! framework has to compete with. Throughput is in agent-ticks.
//!
//! Run with `cargo bench --bench market`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tokensim::experiment::{RunOptions, Silent, run_experiment};
use tokensim::prelude::*;

const AGENTS: u64 = 100_000;
const TICKS: u64 = 365;

fn market(events: bool) -> LoadedScenario {
    let base = LoadedScenario::load(Path::new("scenarios/market.toml")).expect("market scenario");
    let set = |p: &str, v: toml::Value| (p.to_string(), v);
    base.with_overrides(
        &[
            set("populations.traders.count", toml::Value::Integer(AGENTS as i64)),
            set("output.events", toml::Value::Boolean(events)),
        ],
        "bench",
    )
    .expect("overrides")
}

fn tokensim_market(c: &mut Criterion) {
    let mut group = c.benchmark_group("market_100k_agents_365_ticks");
    group.sample_size(10).throughput(Throughput::Elements(AGENTS * TICKS));
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, events) in [("tokensim_ticks_output", false), ("tokensim_ticks_and_events_output", true)] {
        let scenario = market(events);
        let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join(name)) };
        group.bench_function(name, |b| {
            b.iter(|| run_experiment(&scenario, &registry, &opts, &Silent).expect("run"));
        });
    }
    group.bench_function("handwritten_soa_loop", |b| {
        b.iter(|| black_box(handwritten(AGENTS as usize, TICKS)))
    });
    group.finish();
}

/// The model written directly: arrays of balances, one generator, no
/// framework, no output beyond the final supply. Mirrors the spec step by
/// step so it does the same work.
fn handwritten(n: usize, ticks: u64) -> f64 {
    let (k, m, f_in, f_out, r) = (1.0f64, 1e-6, 0.05, 0.05, 0.01);
    let mut supply = 1_000_000.0f64;
    let mut reserve = m / (k + 1.0) * supply.powf(k + 1.0);
    let mut pool = 0.0f64;
    let (mut dai, mut tkn, mut staked) = (vec![1000.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
    let mut total_staked = 0.0;
    let mut rng = Pcg64Mcg::seed_from_u64(42);
    for _ in 0..ticks {
        for i in 0..n {
            if rng.random::<f64>() < 0.1 {
                let buy = rng.random::<f64>() < 0.5;
                let u = rng.random::<f64>() * 0.2;
                if buy {
                    let d = u * dai[i];
                    if d > 0.0 {
                        pool += f_in * d;
                        reserve += (1.0 - f_in) * d;
                        let s2 = ((k + 1.0) * reserve / m).powf(1.0 / (k + 1.0));
                        tkn[i] += s2 - supply;
                        dai[i] -= d;
                        supply = s2;
                    }
                } else {
                    let q = u * tkn[i];
                    if q > 0.0 {
                        let s2 = supply - q;
                        let r2 = m / (k + 1.0) * s2.powf(k + 1.0);
                        let x = reserve - r2;
                        pool += f_out * x;
                        dai[i] += (1.0 - f_out) * x;
                        tkn[i] -= q;
                        reserve = r2;
                        supply = s2;
                    }
                }
            }
            if rng.random::<f64>() < 0.05 {
                let q = 0.5 * tkn[i];
                tkn[i] -= q;
                staked[i] += q;
                total_staked += q;
            }
            if rng.random::<f64>() < 0.02 {
                tkn[i] += staked[i];
                total_staked -= staked[i];
                staked[i] = 0.0;
            }
        }
        if total_staked > 0.0 {
            let pay = r * pool;
            pool -= pay;
            let per = pay / total_staked;
            for i in 0..n {
                dai[i] += staked[i] * per;
            }
        }
    }
    supply + pool
}

criterion_group!(benches, tokensim_market);
criterion_main!(benches);
