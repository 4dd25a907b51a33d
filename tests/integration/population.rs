//! Population behaviours (`engine::population`): one decision per tick for
//! a whole population, checked against the bonding curve's closed form,
//! reproducible at any thread count, and failing as a located error.

use std::path::Path;
use std::process::ExitCode;

use rand::RngExt;
use tokensim::engine::population::{PopulationBehaviour, PopulationFrame, catch_failure};
use tokensim::experiment::{RunOptions, Silent, run_experiment};
use tokensim::prelude::*;

use super::common::*;

/// Every agent buys its `amount` on `curve` with probability `p` (drawn
/// from the frame's seed); `fail_at` makes tick `fail_at` fail; `stranger`
/// sends one intent from an agent outside the population.
struct Buyers {
    curve: ContractId,
    p: f64,
    fail_at: u32,
    stranger: bool,
}

impl PopulationBehaviour for Buyers {
    fn decide(
        &mut self,
        frame: &PopulationFrame<'_>,
        _market: &Market<'_>,
        out: &mut Vec<(AgentId, Intent)>,
    ) -> Result<(), String> {
        if frame.tick == self.fail_at {
            return Err("the model gave up".into());
        }
        let amounts = &frame.params.iter().find(|(n, _)| n == "amount").expect("declared").1;
        let mut rng = rand_pcg::Pcg64Mcg::new(u128::from(frame.seed) | 1);
        for (id, amount) in frame.ids.iter().zip(amounts) {
            if rng.random::<f64>() < self.p {
                out.push((*id, Intent::new(self.curve, Action::Buy, Amount::Units(*amount))));
            }
        }
        if self.stranger {
            out.push((AgentId(u64::MAX / 2), Intent::new(self.curve, Action::Buy, Amount::Units(1.0))));
        }
        Ok(())
    }
}

struct BuyersKind;

impl BehaviourKind for BuyersKind {
    fn name(&self) -> &'static str {
        "buyers"
    }
    fn summary(&self) -> &'static str {
        "Buys its amount with probability p, decided for the whole population at once."
    }
    fn params(&self) -> &'static [ParamDecl] {
        const PARAMS: &[ParamDecl] = &[
            ParamDecl::contract("curve", Need::accepting(&[Action::Buy])).doc("where it buys"),
            ParamDecl::per_agent("amount", 0.0, 1e15).doc("units per buy"),
            ParamDecl::float("p", 0.0, 1.0).default_float(1.0).doc("probability of buying"),
            ParamDecl::int("fail_at", 0, u32::MAX as u64)
                .default_int(0)
                .doc("tick at which to fail (0: never)"),
            ParamDecl::bool("stranger").default_bool(false).doc("send for an agent outside the population"),
        ];
        PARAMS
    }
    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let curve = ctx.contract_param("curve")?;
        let amounts = ctx.sample_all(&p.agent("amount"));
        assert_eq!(amounts.len(), ctx.count());
        let behaviour =
            Buyers { curve, p: p.float("p"), fail_at: p.int("fail_at") as u32, stranger: p.bool("stranger") };
        ctx.spawn_population(behaviour, vec![("amount".into(), amounts)]);
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_behaviour(BuyersKind);
    r
}

fn scenario(n: u64, ticks: u32, behaviour: &str) -> String {
    format!(
        r#"
seed = 5
ticks = {ticks}
assets = ["DAI", "TKN"]
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
entry_tribute = 0.1
treasury = "pool"
[populations.a]
count = 7
[populations.b]
count = {n}
balances = {{ DAI = 1000.0 }}
[populations.b.behaviours.buyers]
curve = "curve"
{behaviour}
"#
    )
}

fn load(text: &str) -> LoadedScenario {
    LoadedScenario::from_str(Path::new("pop.toml"), text).expect("valid scenario")
}

#[test]
fn every_agent_buys_once_per_tick_as_the_closed_form_says() {
    let (n, ticks, amount, tribute, slope) = (40u64, 6u32, 3.0, 0.1, 1e-6);
    let loaded = load(&scenario(n, ticks, "amount = 3.0"));
    let mut sim = Simulation::new(&loaded, &registry(), &RunSpec::single(loaded.scenario.seed)).unwrap();
    let col = |sim: &Simulation, name: &str| sim.metric_columns.iter().position(|c| c.name == name).unwrap();
    let (reserve, supply, pool) =
        (col(&sim, "curve_reserve"), col(&sim, "curve_supply"), col(&sim, "pool_balance"));
    let r0 = slope / 2.0 * 1e12;
    for k in 1..=ticks {
        let log = sim.step();
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        assert_eq!((log.n_tx, log.n_rejected), (n, 0));
        // reserve = slope/2 · S² after depositing (1 − tribute) of every buy.
        let r = r0 + (1.0 - tribute) * amount * (n * u64::from(k)) as f64;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(log.metrics[reserve], r), "tick {k}: {} vs {r}", log.metrics[reserve]);
        assert!(close(log.metrics[supply], (2.0 * r / slope).sqrt()));
        assert!(close(log.metrics[pool], tribute * amount * (n * u64::from(k)) as f64));
    }
    // Each agent of population b (ids 7..) paid amount × ticks.
    let mut paid = Vec::new();
    sim.for_each_agent(|id, w| paid.push((id.0, w.get(AssetId(0)))));
    for (id, dai) in paid {
        let expected = if id < 7 { 0.0 } else { 1000.0 - amount * f64::from(ticks) };
        assert!((dai - expected).abs() < 1e-9, "agent {id}: {dai}");
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_at_any_thread_count() {
    let loaded =
        load(&scenario(5000, 12, "amount = { dist = \"uniform\", low = 1.0, high = 5.0 }\np = 0.3\n"));
    let overrides =
        [("runs".into(), toml::Value::Integer(3)), ("output.events".into(), toml::Value::Boolean(true))];
    let loaded = loaded.with_overrides(&overrides, "test").unwrap();
    let dir = tempdir();
    let mut outputs = Vec::new();
    for threads in [1, 2] {
        let out = dir.path().join(format!("j{threads}"));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run_experiment(&loaded, &registry(), &RunOptions::new(&out), &Silent)).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        outputs.push(files);
    }
    assert!(outputs[0].iter().any(|(n, _)| n.starts_with("events")));
    assert_eq!(outputs[0], outputs[1]);
    // The per-tick seed differs by tick: about 30 % buy, not all or none.
    let sim_loaded = load(&scenario(5000, 3, "amount = 1.0\np = 0.3\n"));
    let mut sim = Simulation::new(&sim_loaded, &registry(), &RunSpec::single(5)).unwrap();
    let counts: Vec<u64> = (0..3).map(|_| sim.step().n_tx).collect();
    assert!(counts.iter().all(|&c| (1300..1700).contains(&c)), "{counts:?}");
    assert!(counts[0] != counts[1] || counts[1] != counts[2], "{counts:?}");
}

#[test]
fn a_failing_decision_is_an_error_naming_behaviour_population_and_tick() {
    let dir = tempdir();
    for (extra, message) in [
        ("fail_at = 3", "behaviour `buyers` of population `b` at tick 3: the model gave up"),
        (
            "stranger = true",
            "behaviour `buyers` of population `b` at tick 1: agent 9223372036854775807 is not in the population (agents 7..=16)",
        ),
    ] {
        let loaded = load(&scenario(10, 5, &format!("amount = 1.0\n{extra}")));
        let out = dir.path().join(extra.replace([' ', '='], ""));
        let err = catch_failure(|| run_experiment(&loaded, &registry(), &RunOptions::new(&out), &Silent))
            .expect_err("the run must fail");
        assert_eq!(err.to_string(), message);
        assert!(!out.join("manifest.json").exists(), "a failed run never looks complete");
    }
}

#[test]
fn a_users_binary_gets_the_whole_cli_from_main_from() {
    let dir = tempdir();
    let path = write_file(dir.path(), "pop.toml", &scenario(10, 3, "amount = 1.0"));
    let out = dir.path().join("out");
    let args = |a: &[&str]| {
        std::iter::once("tokensim").chain(a.iter().copied()).map(String::from).collect::<Vec<_>>()
    };
    assert_eq!(tokensim::cli::main_from(registry(), args(&["validate", path_str(&path)])), ExitCode::SUCCESS);
    let run = args(&["run", path_str(&path), "-o", path_str(&out), "-q", "--set", "ticks=2"]);
    assert_eq!(tokensim::cli::main_from(registry(), run), ExitCode::SUCCESS);
    assert!(out.join("manifest.json").exists());
    // The built-in registry does not know `buyers`: exit 2, and a usage
    // error returns clap's code instead of exiting the process.
    assert_eq!(
        tokensim::cli::main_from(Registry::builtin(), args(&["validate", path_str(&path)])),
        ExitCode::from(2)
    );
    assert_eq!(tokensim::cli::main_from(registry(), args(&["run", "--no-such-flag"])), ExitCode::from(2));
    let failing = write_file(dir.path(), "fail.toml", &scenario(10, 3, "amount = 1.0\nfail_at = 2"));
    let run = args(&["run", path_str(&failing), "-o", path_str(&dir.path().join("f")), "-q"]);
    assert_eq!(tokensim::cli::main_from(registry(), run), ExitCode::from(2));
}
