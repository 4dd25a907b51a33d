//! Property tests over generated scenarios, in process.
//!
//! - Whatever `validate` accepts runs a few ticks without a panic, without
//!   NaN or inf in a metric or an event, and without breaking an invariant:
//!   the values are drawn from hostile pools (negative, zero, subnormal,
//!   huge, `f64::MAX`) and the references from every contract name.
//! - A fuzz harness of the scenario loader: random edits of a valid
//!   scenario's text (insertions of TOML punctuation, keys and numbers,
//!   deletions, swaps) are either refused with an error or accepted, never
//!   a panic. It runs in `cargo test` (and so in CI) with many cases.

use std::path::Path;

use proptest::prelude::*;
use tokensim::experiment::{expand, runner::validate};
use tokensim::prelude::*;

/// Numbers a hostile user writes.
const NUMBERS: &[&str] = &[
    "-1.0",
    "0.0",
    "1e-300",
    "1e-9",
    "0.001",
    "0.05",
    "0.3",
    "0.5",
    "0.8",
    "0.999",
    "1.0",
    "2.0",
    "100.0",
    "1e6",
    "1e15",
    "1e300",
    "1.7976931348623157e308",
];

/// Contract names a reference may point at (including one that does not exist).
const NAMES: &[&str] = &["fund", "curve", "pool", "feed", "market", "staking", "emission", "nowhere"];

/// A number for a parameter whose valid range is `[lo, hi]`: mostly a
/// value inside it (log-uniform when the range spans decades, the bounds
/// themselves included), sometimes a hostile one.
fn number(lo: f64, hi: f64) -> BoxedStrategy<String> {
    let inside = if lo > 0.0 && hi / lo > 1e3 {
        (lo.ln()..=hi.ln()).prop_map(f64::exp).boxed()
    } else if lo == 0.0 && hi > 1e3 {
        prop_oneof![Just(0.0), (1e-9f64.ln()..=hi.ln()).prop_map(f64::exp)].boxed()
    } else {
        (lo..=hi).boxed()
    };
    let inside = prop_oneof![6 => inside, 1 => Just(lo), 1 => Just(hi)];
    prop_oneof![
        10 => inside.prop_map(|x: f64| format!("{x:e}")),
        1 => proptest::sample::select(NUMBERS).prop_map(str::to_string),
    ]
    .boxed()
}

/// A reference: mostly one of `good`, sometimes any name.
fn reference(good: &'static [&'static str]) -> BoxedStrategy<&'static str> {
    prop_oneof![6 => proptest::sample::select(good), 1 => proptest::sample::select(NAMES)].boxed()
}

/// A scenario with every family of mechanism and several behaviours, its
/// values and references drawn by the strategy.
fn scenario() -> impl Strategy<Value = String> {
    let ranges: [(f64, f64); 18] = [
        (0.0, 1e15),
        (1e-12, 1e12),
        (0.0, 10.0),
        (0.0, 1e6),
        (0.0, 0.99),
        (1e-12, 1e12),
        (0.0, 5.0),
        (1e-9, 1e15),
        (1e-9, 1e15),
        (0.0, 0.99),
        (0.0, 1e15),
        (0.0, 1.0),
        (0.0, 1e15),
        (0.01, 0.99),
        (0.01, 0.99),
        (0.0, 1e15),
        (0.0, 1e15),
        (0.0, 1e15),
    ];
    let numbers: Vec<BoxedStrategy<String>> = ranges.iter().map(|&(lo, hi)| number(lo, hi)).collect();
    let references: Vec<BoxedStrategy<&'static str>> = [
        &["fund"][..],
        &["feed", "curve"],
        &["fund", "recipient_account"],
        &["fund"],
        &["feed", "pool", "curve"],
        &["curve", "pool"],
        &["staking"],
        &["pool", "curve"],
    ]
    .into_iter()
    .map(reference)
    .collect();
    (
        numbers,
        references,
        1u32..5,
        1u64..12,
        proptest::sample::select(
            &["\"constant\"", "\"exponential\"\ndecay = 0.1", "\"halving\"\nhalving_ticks = 2"][..],
        ),
    )
        .prop_map(|(n, r, ticks, count, schedule)| {
            format!(
                r#"ticks = {ticks}
assets = ["DAI", "TKN", "ETH", "USDC", "LP"]

[contracts.fund]
kind = "treasury"
asset = "DAI"
initial_balance = {n0}

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = {n1}
exponent = {n2}
initial_supply = {n3}
entry_tribute = {n4}
treasury = "{r0}"

[contracts.feed]
kind = "price_feed"
process = "gbm"
initial = {n5}
volatility = {n6}

[contracts.pool]
kind = "amm"
base = "ETH"
quote = "USDC"
lp_token = "LP"
initial_base = {n7}
initial_quote = {n8}
fee = {n9}
valuation = "{r1}"

[contracts.emission]
kind = "emission"
token = "TKN"
recipient = "{r2}"
schedule = {schedule}
amount = {n10}

[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "{r3}"
rate = {n11}

[contracts.market]
kind = "lending_market"
collateral = "ETH"
debt = "USDC"
oracle = "{r4}"
initial_liquidity = {n12}
max_ltv = {n13}
liquidation_threshold = {n14}

[populations.traders]
count = {count}
balances = {{ DAI = {n15}, TKN = {n16}, ETH = {n17}, USDC = {n17} }}

[populations.traders.behaviours.noise_trader]
contract = "{r5}"
p_trade = 0.5

[populations.traders.behaviours.staker]
pool = "{r6}"
p_stake = 0.3
p_unstake = 0.1

[populations.arbs]
count = 2
balances = {{ ETH = {n17}, USDC = {n15} }}

[populations.arbs.behaviours.arbitrageur]
venue = "{r7}"
reference = "feed"
capital = {n16}
"#,
                n0 = n[0],
                n1 = n[1],
                n2 = n[2],
                n3 = n[3],
                n4 = n[4],
                n5 = n[5],
                n6 = n[6],
                n7 = n[7],
                n8 = n[8],
                n9 = n[9],
                n10 = n[10],
                n11 = n[11],
                n12 = n[12],
                n13 = n[13],
                n14 = n[14],
                n15 = n[15],
                n16 = n[16],
                n17 = n[17],
                r0 = r[0],
                r1 = r[1],
                r2 = r[2],
                r3 = r[3],
                r4 = r[4],
                r5 = r[5],
                r6 = r[6],
                r7 = r[7],
            )
        })
}

/// What `tokensim validate` does: load, expand, validate every run; then
/// the first run's resolved scenario (sweep point and variant applied) and
/// its spec, as `tokensim run` would build it.
fn validates(text: &str, registry: &Registry) -> Option<(LoadedScenario, RunSpec)> {
    let loaded = LoadedScenario::from_str(Path::new("gen.toml"), text).ok()?;
    let plan = expand(&loaded).ok()?;
    validate(&plan, registry).ok()?;
    let first = plan.runs.first()?;
    Some((plan.scenarios[first.scenario].clone(), first.spec.clone()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn what_validates_runs_without_panic_nan_or_broken_invariant(text in scenario(), seed in 0u64..1000) {
        let registry = Registry::builtin();
        let Some((loaded, mut spec)) = validates(&text, &registry) else { return Ok(()) };
        spec.seed = seed;
        let mut sim = Simulation::new(&loaded, &registry, &spec).expect("what validates builds");
        for _ in 0..loaded.scenario.ticks {
            let log = sim.step();
            prop_assert!(log.violations.is_empty(), "invariant broken: {:?}\n{text}", log.violations);
            prop_assert!(log.metrics.iter().all(|v| v.is_finite()), "metrics {:?}\n{text}", log.metrics);
            for e in &log.events {
                prop_assert!(
                    e.amount_in.is_finite() && e.amount_out.is_finite() && e.fee.is_finite(),
                    "event {e:?}\n{text}"
                );
            }
        }
    }
}

/// The valid scenario the fuzzer edits.
const SEED_TEXT: &str = r#"ticks = 3
assets = ["DAI", "TKN"]
[contracts.fund]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
treasury = "fund"
entry_tribute = 0.05
[sweep]
"contracts.curve.slope" = [1e-6, 2e-6]
[populations.a]
count = 3
balances = { DAI = 100.0 }
behaviours.noise_trader = { contract = "curve", p_trade = 0.5 }
"#;

/// Fragments an edit inserts.
const FRAGMENTS: &[&str] = &[
    "=",
    "\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "\n",
    " ",
    "-",
    "0",
    "1e400",
    "-1",
    "nan",
    "inf",
    "\"\"",
    "kind",
    "count",
    "runs = 0",
    "ticks",
    "[variants.v]\nruns = 0\n",
    "[orders]\nfile = \".\"\n",
    "1e15",
    "curve",
    "fund",
    "samples = 3",
    "mode = \"zip\"",
    "{ dist = \"normal\", mean = 1, std = 1 }",
];

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Swap(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), proptest::sample::select(FRAGMENTS)).prop_map(|(at, f)| Edit::Insert(at, f)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match *e {
            Edit::Insert(at, f) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, f.chars());
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Swap(a, b) if !chars.is_empty() => {
                let n = chars.len();
                chars.swap(a % n, b % n)
            }
            Edit::Swap(..) => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_edited_scenarios(edits in proptest::collection::vec(edit(), 1..6)) {
        let text = apply(SEED_TEXT, &edits);
        let registry = Registry::builtin();
        if let Some((loaded, spec)) = validates(&text, &registry)
            && loaded.scenario.populations.values().map(|p| p.count).sum::<u64>() <= 10_000
        {
            // Accepted (and small enough for a test): it builds and steps one tick.
            let mut sim = Simulation::new(&loaded, &registry, &spec).expect("what validates builds");
            let log = sim.step();
            prop_assert!(log.metrics.iter().all(|v| v.is_finite()), "{:?}\n{text}", log.metrics);
        }
    }
}
