//! Bancor-family curves and the strategies that trade on them: the
//! `commons_abc` scenario from hatch to open phase, checked from its output
//! files against the closed forms; and trend followers and mean reverters
//! reading a price feed whose moves are scheduled, so every decision is
//! known in advance.

use std::collections::BTreeMap;
use std::path::Path;

use tokensim::engine::phase::EventRow;
use tokensim::prelude::*;

use crate::common::*;

const REL: f64 = 1e-9;

// The shipped scenario's parameters.
const HATCH_PRICE: f64 = 0.1;
const GOAL: f64 = 200_000.0;
const THETA: f64 = 0.2;
const KAPPA: f64 = 4.0;
const VESTING: f64 = 90.0;
const TICKS: usize = 200;

/// The shipped `commons_abc` scenario, one run, no sweep, hatchers holding
/// a known 2,000 DAI each (so total DAI is known), snapshots every 25 ticks.
fn commons_abc_single() -> String {
    let text = shipped_scenario_text("commons_abc.toml");
    let text = replace_once(&text, "runs = 2 ", "snapshot_every = 25\nruns = 1 ");
    let text = replace_once(
        &text,
        "balances = { DAI = { dist = \"lognormal\", mu = 7.6, sigma = 0.5 } }",
        "balances = { DAI = 2000.0 }",
    );
    let text = replace_once(&text, "[sweep]\n", "");
    let text = replace_once(&text, "\"contracts.abc.hatch_tribute\" = [0.1, 0.3]\n", "");
    replace_once(&text, "\"contracts.abc.entry_tribute\" = [0.02, 0.08]\n", "")
}

#[test]
fn commons_abc_runs_clean_and_follows_the_closed_forms() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "commons_abc.toml", &commons_abc_single());
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--events"]);
    assert!(!out.join("violations.parquet").exists(), "no invariant may break: {:?}", list_dir(&out));
    assert_eq!(manifest(&out)["violations"], 0);

    let ticks = read_parquet(&out.join("ticks.parquet"));
    let phase = u64s(&ticks, "phase");
    let [raised, reserve, supply, price, pool, locked, tributes] =
        ["raised", "reserve", "supply", "price", "funding_pool", "locked", "tributes"]
            .map(|c| f64s(&ticks, c));
    assert_eq!(phase.len(), TICKS);

    // Hatch, then open from the tick the goal is met; never failed.
    let close = phase.iter().position(|&p| p == 1).expect("the hatch closes");
    assert!(close > 0, "the hatch takes more than one tick");
    assert!(phase[..close].iter().all(|&p| p == 0) && phase[close..].iter().all(|&p| p == 1));
    let (s0, r0) = (GOAL / HATCH_PRICE, (1.0 - THETA) * GOAL);
    for t in 0..close {
        assert_eq!(price[t], HATCH_PRICE);
        assert_close(reserve[t], raised[t], REL, "hatch escrow");
        assert_close(locked[t], raised[t] / HATCH_PRICE, REL, "hatch tokens locked");
        assert!(raised[t] < GOAL && pool[t] == 0.0);
    }
    assert_eq!(raised[close], GOAL, "the closing buy fills exactly up to the goal");

    // Events: the pool receives θ·goal at the close, then every fee.
    let events = read_parquet(&out.join("events.parquet"));
    let (ev_tick, fee, status) = (u64s(&events, "tick"), f64s(&events, "fee"), strings(&events, "status"));
    let mut fees: BTreeMap<u64, f64> = BTreeMap::new();
    for i in 0..events.num_rows() {
        if status[i] == "ok" {
            *fees.entry(ev_tick[i]).or_default() += fee[i];
        }
    }
    let mut expected_pool = 0.0;
    for t in close..TICKS {
        let tick = t as u64 + 1;
        let s = supply[t];
        // Invariant V = S^κ/R: R = R0·(S/S0)^κ; price κ·R/S.
        assert_close(reserve[t], r0 * (s / s0).powf(KAPPA), REL, &format!("V at tick {tick}"));
        assert_close(price[t], KAPPA * reserve[t] / s, REL, &format!("price at tick {tick}"));
        // Linear vesting over 90 ticks after the close.
        let k = (t - close) as f64;
        assert_close(locked[t], s0 * (1.0 - (k / VESTING).min(1.0)), REL, &format!("locked at tick {tick}"));
        let paid = fees.get(&tick).copied().unwrap_or(0.0) + if t == close { THETA * GOAL } else { 0.0 };
        assert_close(tributes[t], paid, REL, &format!("tributes at tick {tick}"));
        expected_pool += paid;
        assert_close(pool[t], expected_pool, REL, &format!("funding pool at tick {tick}"));
    }
    assert_eq!(locked[TICKS - 1], 0.0, "everything vested");
    assert!(price[close..].iter().any(|&p| p != price[close]), "the open curve trades");

    // Conservation at every snapshot: DAI between agents, reserve and pool;
    // TKN between liquid and locked balances and the curve's supply.
    let agents = read_parquet(&out.join("agents.parquet"));
    let (a_tick, dai, tkn, lck) =
        (u64s(&agents, "tick"), f64s(&agents, "dai"), f64s(&agents, "tkn"), f64s(&agents, "hatch_locked"));
    let total_dai = 200.0 * 2000.0 + 1600.0 * 1000.0;
    for snap in (25..=TICKS as u64).step_by(25) {
        let rows: Vec<usize> = (0..agents.num_rows()).filter(|&i| a_tick[i] == snap).collect();
        assert_eq!(rows.len(), 1800);
        let t = snap as usize - 1;
        let sum = |v: &[f64]| rows.iter().map(|&i| v[i]).sum::<f64>();
        assert!(rows.iter().all(|&i| dai[i] >= 0.0 && tkn[i] >= 0.0 && lck[i] >= 0.0));
        assert_close(sum(&dai) + reserve[t] + pool[t], total_dai, REL, &format!("DAI at tick {snap}"));
        assert_close(sum(&tkn) + sum(&lck), supply[t], REL, &format!("TKN at tick {snap}"));
        assert_close(sum(&lck), locked[t], REL, &format!("locked at tick {snap}"));
    }
}

/// A constant feed at 1.0 with scheduled shocks; agents trade on a Bancor
/// curve but read the feed. One agent per population, in this order:
/// 0 fast trend follower (3/10), 1 slow trend follower (3/40),
/// 2 mean reverter (window 10), 3 slow mean reverter (window 40).
fn signal_world(shocks: &str) -> Simulation {
    let text = format!(
        r#"
ticks = 100
assets = ["DAI", "TKN"]
[contracts.feed]
kind = "price_feed"
process = "constant"
initial = 1.0
shocks = {shocks}
[contracts.venue]
kind = "bancor"
reserve_asset = "DAI"
token = "TKN"
reserve_ratio = 0.5
initial_supply = 1_000_000.0
initial_reserve = 1_000_000.0
[populations.tf]
count = 1
balances = {{ DAI = 1000.0 }}
behaviours.trend_follower = {{ venue = "venue", signal = "feed", short_window = 3, long_window = 10, trade_fraction = 0.5 }}
[populations.tf_slow]
count = 1
balances = {{ DAI = 1000.0 }}
behaviours.trend_follower = {{ venue = "venue", signal = "feed", short_window = 3, long_window = 40, trade_fraction = 0.5 }}
[populations.mr]
count = 1
balances = {{ DAI = 1000.0 }}
behaviours.mean_reverter = {{ venue = "venue", signal = "feed", window = 10, threshold = 0.1, trade_fraction = 0.25 }}
[populations.mr_slow]
count = 1
balances = {{ DAI = 1000.0 }}
behaviours.mean_reverter = {{ venue = "venue", signal = "feed", window = 40, threshold = 0.1, trade_fraction = 0.25 }}
[output]
events = true
"#
    );
    let scenario = LoadedScenario::from_str(Path::new("signals.toml"), &text).expect("scenario parses");
    Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(1)).expect("scenario builds")
}

/// Runs the world; per tick the feed's price and the settled events.
fn run_world(mut sim: Simulation) -> (Vec<f64>, Vec<Vec<EventRow>>) {
    let (mut prices, mut events) = (Vec::new(), Vec::new());
    while sim.tick() < sim.ticks {
        let log = sim.step().clone();
        assert!(log.violations.is_empty(), "tick {}: {:?}", sim.tick(), log.violations);
        assert_eq!(log.n_rejected, 0);
        prices.push(sim.world.resource::<Prices>().get(ContractId(0)));
        events.push(log.events);
    }
    (prices, events)
}

/// `(tick, action)` of an agent's settled trades.
fn trades_of(events: &[Vec<EventRow>], agent: u64) -> Vec<(usize, Action)> {
    let mut out = Vec::new();
    for (t, evs) in events.iter().enumerate() {
        for e in evs.iter().filter(|e| e.agent == AgentId(agent)) {
            assert!(e.rejected.is_none());
            out.push((t + 1, e.action));
        }
    }
    out
}

fn sma(prices: &[f64], t: usize, n: usize) -> f64 {
    prices[t + 1 - n..=t].iter().sum::<f64>() / n as f64
}

#[test]
fn trend_follower_trades_exactly_at_the_crosses() {
    // Up 20% at tick 30, down 30% at tick 60.
    let (prices, events) =
        run_world(signal_world("[{ tick = 30, factor = 1.2 }, { tick = 60, factor = 0.7 }]"));
    assert_eq!((prices[28], prices[29], prices[59]), (1.0, 1.2, 1.2 * 0.7));
    // Fast: flat when its window fills (tick 10), so the jump at 30 is a
    // cross above (3-tick mean 1.067 > 10-tick mean 1.02), the drop at 60 a
    // cross below. It buys with half its DAI and sells half its tokens.
    assert_eq!(trades_of(&events, 0), [(30, Action::Buy), (60, Action::Sell)]);
    let buy = events[29].iter().find(|e| e.agent == AgentId(0)).unwrap();
    assert_eq!(buy.amount_in, 500.0);
    let sell = events[59].iter().find(|e| e.agent == AgentId(0)).unwrap();
    assert_eq!(sell.amount_in, buy.amount_out / 2.0);
    // Slow: its 40-tick window fills after the jump (tick 40, short above
    // long already: no cross), so it never buys and has nothing to sell at
    // tick 60.
    assert_eq!(trades_of(&events, 1), []);
}

#[test]
fn mean_reverter_trades_while_the_price_is_beyond_its_band() {
    // Down 20% at tick 30, up 50% at tick 60.
    let (prices, events) =
        run_world(signal_world("[{ tick = 30, factor = 0.8 }, { tick = 60, factor = 1.5 }]"));
    for (agent, window) in [(2u64, 10usize), (3, 40)] {
        let mut expected = Vec::new();
        for t in window - 1..prices.len() {
            let (p, ma) = (prices[t], sma(&prices, t, window));
            if p < ma * 0.9 {
                expected.push((t + 1, Action::Buy));
            } else if p > ma * 1.1 {
                expected.push((t + 1, Action::Sell));
            }
        }
        assert_eq!(trades_of(&events, agent), expected, "mean reverter with window {window}");
    }
    // By hand for window 10: 0.8 < 0.9·MA while MA > 0.889, i.e. the first
    // five ticks after the drop (MA = 0.98, 0.96, …, 0.90); the same after
    // the rise above 1.1·MA.
    let fast = trades_of(&events, 2);
    assert_eq!(
        fast.iter().filter(|(_, a)| *a == Action::Buy).map(|(t, _)| *t).collect::<Vec<_>>(),
        [30, 31, 32, 33, 34]
    );
    assert_eq!(fast.iter().find(|(_, a)| *a == Action::Sell).map(|(t, _)| *t), Some(60));
    // The slow one is still warming up at tick 30 and first acts at 40.
    assert_eq!(trades_of(&events, 3).first(), Some(&(40, Action::Buy)));
}

/// The error building `text` gives, as displayed.
fn build_error(text: &str) -> String {
    let scenario = LoadedScenario::from_str(Path::new("bad.toml"), text).expect("scenario parses");
    match Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(1)) {
        Ok(_) => panic!("scenario must not build:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_curve_and_strategy_parameters_are_located_errors() {
    let base = commons_abc_single();
    let cases = [
        ("kappa = 4.0", "kappa = 0.5", "contracts.abc.kappa"),
        ("hatch_tribute = 0.2", "hatch_tribute = 1.0", "contracts.abc.hatch_tribute"),
        ("hatch_goal = 200_000.0", "hatch_goal = -1.0", "contracts.abc.hatch_goal"),
        ("hatch_deadline = 40", "hatch_deadline = 0", "contracts.abc.hatch_deadline"),
        ("window = 20", "window = 0", "populations.reverters.behaviours.mean_reverter.window"),
        (
            "long_window = { dist = \"uniform\", low = 8, high = 15 }",
            "long_window = 2",
            "populations.trend.behaviours.trend_follower.long_window",
        ),
    ];
    for (from, to, field) in cases {
        let text = replace_once(&base, from, to);
        let err = build_error(&text);
        let (line, _) = line_col_of(&text, to);
        assert!(err.contains(field) && err.contains(&format!("bad.toml:{line}:")), "{to}: {err}");
    }
    let bancor = r#"
ticks = 1
assets = ["DAI", "TKN"]
[contracts.curve]
kind = "bancor"
reserve_asset = "DAI"
token = "TKN"
reserve_ratio = 1.5
initial_supply = 1.0
initial_reserve = 1.0
"#;
    let err = build_error(bancor);
    assert!(
        err.contains("bad.toml:8:") && err.contains("reserve_ratio") && err.contains("[1e-6, 1]"),
        "{err}"
    );
    let with_tribute = bancor
        .replace("1.5", "0.5")
        .replace("initial_reserve = 1.0", "initial_reserve = 1.0\nentry_tribute = 0.1");
    let err = build_error(&with_tribute);
    assert!(err.contains("treasury") && err.contains("required"), "{err}");
}
