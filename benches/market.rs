//! Benchmarks of the `market` model (docs/benchmark.md):
//! tokensim end to end (build, 365 ticks, Parquet output) at 100,000
//! agents, with and without the per-transaction events table, and a
//! hand-written struct-of-arrays loop of the same model as the baseline a
//! framework has to compete with, and the Parquet writer alone on that
//! run's events. Throughput is in agent-ticks (rows for the writer).
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
    with(&[
        ("populations.traders.count", toml::Value::Integer(AGENTS as i64)),
        ("output.events", toml::Value::Boolean(events)),
        // The benchmark model itself: the shipped goals are measured below.
        ("properties", toml::Value::Table(toml::Table::new())),
    ])
}

/// Five properties (every temporal form, history functions) and two
/// population metrics (one a quantile), as the properties issue asks.
const PROPERTIES: &str = r#"
[properties.floor]
always = "price >= 0.8 * start(price)"
[properties.pool]
at_end = "funding_pool >= 10_000"
[properties.staked]
eventually = "total_staked >= 0.05 * supply"
[properties.calm]
always = "drawdown(price) <= 0.5 and mean(n_trades, 7) >= 0"
[properties.wealth]
always = "median_wealth >= 0.5 * start(median_wealth) or change(supply, 30) >= 0"
"#;

/// `market` at 100k agents, events off, without and with [`PROPERTIES`]
/// and two population metrics: what declaring goals costs.
fn properties_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("market_100k_properties_overhead");
    group.sample_size(10).throughput(Throughput::Elements(AGENTS * TICKS));
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("tempdir");
    let properties: toml::Table = toml::from_str::<toml::Table>(PROPERTIES).expect("toml")["properties"]
        .as_table()
        .expect("table")
        .clone();
    let metric = |text: &str| toml::Value::Table(toml::from_str(text).expect("metric"));
    let with_properties = with(&[
        ("populations.traders.count", toml::Value::Integer(AGENTS as i64)),
        ("output.events", toml::Value::Boolean(false)),
        ("properties", toml::Value::Table(properties)),
        (
            "metrics.median_wealth",
            metric(
                r#"population = "traders"
of = "DAI + (TKN + staked) * curve.price"
stat = "quantile"
q = 0.5"#,
            ),
        ),
        ("metrics.mean_staked", metric("population = \"traders\"\nof = \"staked\"\nstat = \"mean\"")),
    ]);
    for (name, scenario) in
        [("without", market(false)), ("five_properties_two_population_metrics", with_properties)]
    {
        let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join(name)) };
        group.bench_function(name, |b| {
            b.iter(|| run_experiment(&scenario, &registry, &opts, &Silent).expect("run"));
        });
    }
    group.finish();
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

/// The Parquet writer alone on the events of one `market` run at 100k
/// agents × 365 ticks (≈ 5.8M rows, read back into batches beforehand):
/// the floor under what recording every transaction costs, whatever the
/// simulation does. Throughput is in rows.
fn events_writer(c: &mut Criterion) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use tokensim::output::sink::ParquetSink;
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join("run")) };
    run_experiment(&market(true), &registry, &opts, &Silent).expect("run");
    let file = std::fs::File::open(dir.path().join("run/events.parquet")).expect("events file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").with_batch_size(1 << 16);
    let batches: Vec<_> = reader.build().expect("reader").map(|b| b.expect("batch")).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut group = c.benchmark_group("events_parquet_writer_market_100k_365_ticks");
    group.sample_size(10).throughput(Throughput::Elements(rows as u64));
    let out = dir.path().join("rewritten.parquet");
    group.bench_function("write_only", |b| {
        b.iter(|| {
            let mut sink = ParquetSink::create(&out, batches[0].schema(), Vec::new()).expect("sink");
            for batch in &batches {
                sink.write(batch.clone()).expect("write");
            }
            black_box(sink.finish().expect("finish"))
        })
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

/// 64 runs of `market` at 1,000 agents × 365 ticks (events on), as one
/// experiment, with 1 and 2 worker threads. Throughput is in runs.
fn sweep_64_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("sweep_64_runs_1000_agents_365_ticks");
    group.sample_size(10).throughput(Throughput::Elements(64));
    let registry = Registry::builtin();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = with(&[
        ("populations.traders.count", toml::Value::Integer(1000)),
        ("runs", toml::Value::Integer(64)),
    ]);
    for jobs in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().expect("pool");
        let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join(format!("jobs{jobs}"))) };
        group.bench_function(format!("jobs_{jobs}"), |b| {
            b.iter(|| pool.install(|| run_experiment(&scenario, &registry, &opts, &Silent).expect("run")));
        });
    }
    group.finish();
}

/// The fixed cost of a run: building a 1,000-agent world, and a whole
/// one-tick run with its output files and manifest.
fn per_run_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_run_overhead_1000_agents");
    let registry = Registry::builtin();
    let scenario = with(&[("populations.traders.count", toml::Value::Integer(1000))]);
    group.bench_function("build_world", |b| {
        b.iter(|| Simulation::new(&scenario, &registry, &RunSpec::single(1)).expect("build"));
    });
    let one_tick = with(&[
        ("populations.traders.count", toml::Value::Integer(1000)),
        ("ticks", toml::Value::Integer(1)),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions { force: true, ..RunOptions::new(dir.path().join("one")) };
    group.bench_function("one_tick_run_with_output", |b| {
        b.iter(|| run_experiment(&one_tick, &registry, &opts, &Silent).expect("run"));
    });
    group.finish();
}

/// `scenarios/market.toml` with `overrides`, after pinning what the
/// figures were measured with whatever the file's defaults become: one run,
/// the events table written (the benches that measure without it say so).
fn with(overrides: &[(&str, toml::Value)]) -> LoadedScenario {
    let base = LoadedScenario::load(Path::new("scenarios/market.toml")).expect("market scenario");
    let pinned = [("runs", toml::Value::Integer(1)), ("output.events", toml::Value::Boolean(true))];
    let sets: Vec<(String, toml::Value)> =
        pinned.iter().chain(overrides).map(|(p, v)| (p.to_string(), v.clone())).collect();
    base.with_overrides(&sets, "bench").expect("overrides")
}

criterion_group!(
    benches,
    tokensim_market,
    events_writer,
    properties_overhead,
    sweep_64_runs,
    per_run_overhead
);
criterion_main!(benches);
