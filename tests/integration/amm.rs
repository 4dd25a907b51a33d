//! The constant-product pool with its arbitrageurs and liquidity providers:
//! the shipped `amm_arbitrage` scenario keeps every invariant and conserves
//! every asset (checked from the output files), and each behaviour makes
//! the decision computed here in advance in a small world.

use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::DataType;
use tokensim::engine::contract::Contracts;
use tokensim::mechanisms::amm::Amm;
use tokensim::prelude::*;

use super::common::*;

/// Every `{prefix}*.parquet` of a results directory as one batch.
fn read_all(dir: &Path, prefix: &str) -> RecordBatch {
    let batches: Vec<RecordBatch> = list_dir(dir)
        .iter()
        .filter(|f| f.starts_with(prefix) && f.ends_with(".parquet"))
        .map(|f| read_parquet(&dir.join(f)))
        .collect();
    assert!(!batches.is_empty(), "no {prefix}*.parquet in {:?}", list_dir(dir));
    concat_batches(&batches[0].schema(), &batches).expect("same schema")
}

/// A dictionary-encoded text column as plain strings.
fn texts(batch: &RecordBatch, name: &str) -> Vec<String> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let plain = arrow::compute::cast(col, &DataType::Utf8).expect("text");
    plain.as_string::<i32>().iter().map(|s| s.unwrap_or("").to_string()).collect()
}

const TICKS: u32 = 96;

#[test]
fn amm_arbitrage_keeps_every_invariant_and_conserves_assets() {
    let dir = tempdir();
    let text = shipped_scenario_text("amm_arbitrage.toml");
    let text = replace_once(&text, "ticks = 720", &format!("ticks = {TICKS}"));
    let text = replace_once(&text, "runs = 3", &format!("runs = 1\nsnapshot_every = {TICKS}"));
    let scenario = write_file(dir.path(), "amm.toml", &text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--events"]);
    assert!(!out.join("violations.parquet").exists(), "no invariant may break: {:?}", list_dir(&out));
    assert_eq!(manifest(&out)["violations"], 0);

    // Conservation at the last tick, from the files alone: what agents hold
    // plus the pool's reserves is what was created at genesis.
    let ticks = read_all(&out, "ticks");
    let agents = read_all(&out, "agents");
    let (t_run, t_tick) = (u64s(&ticks, "run_id"), u64s(&ticks, "tick"));
    let (a_run, a_tick) = (u64s(&agents, "run_id"), u64s(&agents, "tick"));
    let (eth, usdc, lp) = (f64s(&agents, "eth"), f64s(&agents, "usdc"), f64s(&agents, "lp"));
    let (reserve_eth, reserve_usdc) = (f64s(&ticks, "reserve_eth"), f64s(&ticks, "reserve_usdc"));
    let lp_supply = f64s(&ticks, "lp_supply");
    // Genesis: the pool's 1,000 ETH / 2,000,000 USDC; 1 arbitrageur with
    // 1,000 / 2,000,000, 1,000 traders with 5 / 10,000, 100 LPs with
    // 20 / 40,000; √(x0·y0) LP tokens with genesis_lp.
    let genesis_eth = 1_000.0 + 1_000.0 + 1_000.0 * 5.0 + 100.0 * 20.0;
    let genesis_usdc = 2e6 + 2e6 + 1_000.0 * 10_000.0 + 100.0 * 40_000.0;
    let genesis_lp = (1_000.0f64 * 2e6).sqrt();
    let runs: Vec<u64> = {
        let mut r = t_run.clone();
        r.sort();
        r.dedup();
        r
    };
    assert_eq!(runs, vec![0, 1, 2], "one run per fee level");
    for &run in &runs {
        let row = (0..t_run.len()).find(|&i| t_run[i] == run && t_tick[i] == u64::from(TICKS)).unwrap();
        let held = |col: &[f64]| -> f64 {
            (0..a_run.len())
                .filter(|&i| a_run[i] == run && a_tick[i] == u64::from(TICKS))
                .map(|i| col[i])
                .sum()
        };
        assert_close(held(&eth) + reserve_eth[row], genesis_eth, 1e-9, "ETH");
        assert_close(held(&usdc) + reserve_usdc[row], genesis_usdc, 1e-9, "USDC");
        assert_close(held(&lp) + genesis_lp, lp_supply[row], 1e-9, "LP tokens");
    }

    // Per tick, the pool's volume and swap count are what its swap events
    // add up to (buys: USDC paid in; sells: USDC paid out).
    let events = read_all(&out, "events");
    let (e_run, e_tick) = (u64s(&events, "run_id"), u64s(&events, "tick"));
    let (action, status) = (texts(&events, "action"), texts(&events, "status"));
    let (amount_in, amount_out) = (f64s(&events, "amount_in"), f64s(&events, "amount_out"));
    let contract = texts(&events, "contract");
    let mut volume = std::collections::BTreeMap::<(u64, u64), (f64, u64)>::new();
    for i in 0..e_run.len() {
        if status[i] != "ok" || contract[i] != "pool" {
            continue;
        }
        let quote = match action[i].as_str() {
            "buy" => amount_in[i],
            "sell" => amount_out[i],
            _ => continue,
        };
        let e = volume.entry((e_run[i], e_tick[i])).or_default();
        e.0 += quote;
        e.1 += 1;
    }
    let (v_col, n_col) = (f64s(&ticks, "volume_usdc"), u64s(&ticks, "n_swaps"));
    for i in 0..t_run.len() {
        let (v, n) = volume.get(&(t_run[i], t_tick[i])).copied().unwrap_or_default();
        assert_close(v_col[i], v, 1e-9, "volume_usdc");
        assert_eq!(n_col[i], n, "n_swaps of run {} tick {}", t_run[i], t_tick[i]);
    }
    // The arbitrageur keeps the pool near the feed: within 5% every tick.
    let te = f64s(&ticks, "tracking_error");
    assert!(
        te.iter().all(|e| e.abs() < 0.05),
        "max |tracking error| {:?}",
        te.iter().fold(0.0f64, |m, e| m.max(e.abs()))
    );
}

/// A pool of 1,000 ETH / 2,000,000 USDC (price 2,000) with fee `fee`, a
/// constant feed at `feed` (with `shocks`), and `populations` appended.
fn world(fee: f64, feed: f64, shocks: &str, populations: &str) -> Simulation {
    let text = format!(
        r#"
ticks = 10
assets = ["ETH", "USDC", "LP"]
[contracts.feed]
kind = "price_feed"
process = "constant"
initial = {feed}
shocks = [{shocks}]
[contracts.pool]
kind = "amm"
base = "ETH"
quote = "USDC"
lp_token = "LP"
fee = {fee}
initial_base = 1000.0
initial_quote = 2000000.0
valuation = "feed"
{populations}
[output]
events = true
"#
    );
    let loaded = LoadedScenario::from_str(Path::new("inline.toml"), &text).expect("parses");
    Simulation::new(&loaded, &Registry::builtin(), &RunSpec::single(3)).expect("builds")
}

fn pool(sim: &Simulation, name_index: u16) -> &Amm {
    sim.world.resource::<Contracts>().downcast::<Amm>(ContractId(name_index)).expect("an amm")
}

/// The quote a buy must pay so that `(y + a)(y + γa) = γ·T·x·y`: the
/// post-trade marginal cost `price/γ` equals `T` (plain quadratic formula).
fn buy_to(x: f64, y: f64, fee: f64, target: f64) -> f64 {
    let g = 1.0 - fee;
    let (a2, b, c) = (g, y * (1.0 + g), y * y - g * target * x * y);
    (-b + (b * b - 4.0 * a2 * c).sqrt()) / (2.0 * a2)
}

/// The base a sell must pay so that `(x + s)(x + γs) = γ·x·y/T`.
fn sell_to(x: f64, y: f64, fee: f64, target: f64) -> f64 {
    let g = 1.0 - fee;
    let (a2, b, c) = (g, x * (1.0 + g), x * x - g * x * y / target);
    (-b + (b * b - 4.0 * a2 * c).sqrt()) / (2.0 * a2)
}

const ARB: &str = r#"
[populations.arb]
count = 1
balances = { ETH = 500.0, USDC = 1000000.0 }
[populations.arb.behaviours.arbitrageur]
venue = "pool"
reference = "feed"
capital = CAPITAL
min_edge = EDGE
"#;

fn arb(capital: f64, min_edge: f64) -> String {
    ARB.replace("CAPITAL", &capital.to_string()).replace("EDGE", &min_edge.to_string())
}

#[test]
fn an_arbitrageur_buys_exactly_up_to_the_feed_price_net_of_the_fee() {
    let fee = 0.003;
    let mut sim = world(fee, 2_200.0, "", &arb(1e6, 0.0));
    let log = sim.step();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(log.events.len(), 1, "{:?}", log.events);
    let e = log.events[0];
    assert_eq!((e.action, e.rejected), (Action::Buy, None));
    let a = buy_to(1_000.0, 2e6, fee, 2_200.0);
    assert_close(e.amount_in, a, 1e-9, "quote paid");
    assert_close(e.amount_out, 1_000.0 * 0.997 * a / (2e6 + 0.997 * a), 1e-9, "ETH received");
    let price = pool(&sim, 1).spot();
    assert_close(price, 0.997 * 2_200.0, 1e-9, "pool price after: γ·feed");
    assert!(price <= 2_200.0 && price >= 2_200.0 * (1.0 - fee), "within the fee band");
    // Now inside the band: nothing more to do.
    assert_eq!(sim.step().events.len(), 0);
    let mut usdc = 0.0;
    sim.for_each_agent(|_, w| usdc = w.get(AssetId(1)));
    assert_close(usdc, 1e6 - a, 1e-12, "the arbitrageur paid a");
}

#[test]
fn an_arbitrageur_sells_down_to_the_feed_and_respects_capital_and_edge() {
    let fee = 0.01;
    let mut sim = world(fee, 1_800.0, "", &arb(1e6, 0.0));
    let log = sim.step();
    assert_eq!(log.events.len(), 1);
    let e = log.events[0];
    assert_eq!(e.action, Action::Sell);
    assert_close(e.amount_in, sell_to(1_000.0, 2e6, fee, 1_800.0), 1e-9, "ETH sold");
    assert_close(pool(&sim, 1).spot(), 1_800.0 / 0.99, 1e-9, "pool price after: feed/γ");

    // Capital caps a buy.
    let mut sim = world(0.003, 2_500.0, "", &arb(10_000.0, 0.0));
    let e = sim.step().events[0];
    assert_eq!((e.action, e.amount_in), (Action::Buy, 10_000.0));
    // A gap smaller than min_edge is left alone (10% < 15%).
    let mut sim = world(0.003, 2_200.0, "", &arb(1e6, 0.15));
    assert!(sim.step().events.is_empty());
}

#[test]
fn a_two_venue_arbitrageur_buys_cheap_and_sells_dear_until_they_meet() {
    let fee = 0.003;
    let text = format!(
        r#"
ticks = 5
assets = ["ETH", "USDC", "LP", "LP2"]
[contracts.a]
kind = "amm"
base = "ETH"
quote = "USDC"
lp_token = "LP"
fee = {fee}
initial_base = 1000.0
initial_quote = 2000000.0
[contracts.b]
kind = "amm"
base = "ETH"
quote = "USDC"
lp_token = "LP2"
fee = {fee}
initial_base = 500.0
initial_quote = 1100000.0
initial_holder = "genesis_lp_b"
[populations.arb]
count = 1
balances = {{ USDC = 1000000.0 }}
[populations.arb.behaviours.arbitrageur]
venue = "a"
reference = "b"
capital = 1000000.0
[output]
events = true
"#
    );
    let loaded = LoadedScenario::from_str(Path::new("inline.toml"), &text).expect("parses");
    let mut sim = Simulation::new(&loaded, &Registry::builtin(), &RunSpec::single(3)).expect("builds");
    let log = sim.step().clone();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    let acts: Vec<(Action, u16)> = log.events.iter().map(|e| (e.action, e.contract.0)).collect();
    assert_eq!(acts, vec![(Action::Buy, 0), (Action::Sell, 1)], "buy on a (2,000), sell on b (2,200)");
    assert!(log.events.iter().all(|e| e.rejected.is_none()));
    assert_close(log.events[1].amount_in, log.events[0].amount_out, 1e-12, "sells all it bought");
    // The venues' marginal prices net of fees meet: a's cost a/γ = b's
    // proceeds b·γ, and the round trip made money.
    let (pa, pb) = (pool(&sim, 0).spot(), pool(&sim, 1).spot());
    assert_close(pa / 0.997, pb * 0.997, 1e-9, "marginal prices meet");
    let profit = log.events[1].amount_out - log.events[0].amount_in;
    assert!(profit > 0.0, "profit {profit}");
    let mut eth = f64::NAN;
    sim.for_each_agent(|_, w| eth = w.get(AssetId(0)));
    assert_eq!(eth, 0.0, "holds no inventory");
    assert!(sim.step().events.is_empty(), "nothing left to arbitrage");
}

#[test]
fn a_liquidity_provider_adds_then_exits_when_the_price_strays() {
    // The feed jumps 50% at tick 3; the arbitrageur (agent 0) moves the
    // pool there. The LP (agent 1) deposits every tick (p_add = 1) until it
    // sees the pool 20% from its entry price at tick 4, then redeems all;
    // at tick 5 it holds nothing and enters again.
    let lp = r#"
[populations.lp]
count = 1
balances = { ETH = 20.0, USDC = 40000.0 }
[populations.lp.behaviours.liquidity_provider]
pool = "pool"
p_add = 1.0
add_fraction = 0.5
p_remove = 0.0
exit_deviation = 0.2
"#;
    let mut sim = world(0.003, 2_000.0, "{ tick = 3, factor = 1.5 }", &format!("{}{lp}", arb(1e6, 0.0)));
    let l0 = (1_000.0f64 * 2e6).sqrt();
    let mut lp_actions = Vec::new();
    for tick in 1..=5 {
        let log = sim.step();
        assert!(log.violations.is_empty(), "tick {tick}: {:?}", log.violations);
        let mine: Vec<_> = log.events.iter().filter(|e| e.agent == AgentId(1)).copied().collect();
        assert_eq!(mine.len(), 1, "tick {tick}: {mine:?}");
        assert!(mine[0].rejected.is_none(), "tick {tick}: {mine:?}");
        lp_actions.push(mine[0].action);
        if tick == 1 {
            // Half of 40,000 USDC with 10 ETH at price 2,000: 1% of supply.
            assert_close(mine[0].amount_in, 20_000.0, 1e-12, "USDC deposited");
            assert_close(mine[0].amount_out, l0 * 20_000.0 / 2e6, 1e-12, "LP minted");
        }
        if tick == 4 {
            let mut lp_balance = f64::NAN;
            sim.for_each_agent(|id, w| {
                if id == AgentId(1) {
                    lp_balance = w.get(AssetId(2));
                }
            });
            assert_eq!(lp_balance, 0.0, "exited completely");
        }
    }
    use Action::{Deposit, Redeem};
    assert_eq!(lp_actions, vec![Deposit, Deposit, Deposit, Redeem, Deposit]);
}

#[test]
fn bad_pool_and_arbitrageur_parameters_are_errors_at_their_line() {
    let dir = tempdir();
    let shipped = shipped_scenario_text("amm_arbitrage.toml");
    let cases = [
        ("lp_token = \"LP\"", "lp_token = \"ETH\"", "contracts.pool.lp_token", "not base or quote"),
        ("[0.001, 0.003, 0.01]", "[0.001, 0.003, 1.5]", "contracts.pool.fee", "[0, 1)"),
        ("initial_base = 1_000.0", "initial_base = 0.0", "contracts.pool.initial_base", "out of range"),
        ("valuation = \"feed\"", "valuation = \"pool\"", "contracts.pool.valuation", "cannot name itself"),
        ("reference = \"feed\"", "reference = \"pool\"", "reference", "must differ from venue"),
        ("capital = 500_000.0", "capital = -1.0", "capital", "outside the allowed range"),
        ("exit_deviation = 0.2", "exit_deviation = -0.2", "exit_deviation", "outside the allowed range"),
    ];
    for (from, to, field, message) in cases {
        let text = replace_once(&shipped, from, to);
        let scenario = write_file(dir.path(), "bad.toml", &text);
        let out = run(&["validate", path_str(&scenario)]);
        assert_eq!(code(&out), 2, "{to}: {}", describe(&out));
        let (line, _) = line_col_of(&text, to);
        let err = stderr(&out);
        assert!(err.contains(&format!("bad.toml:{line}:")), "{to}: {err}");
        assert!(err.contains(field) && err.contains(message), "{to}: {err}");
    }
}
