//! The simplest behaviours in small worlds whose decisions are known in
//! advance: the noise trader (its draws replayed from the agent's own
//! generator), the staker, and the hatcher through a successful and a
//! failed hatch. (Strategy, AMM, lending and vesting behaviours have theirs
//! next to their mechanisms' tests.)

use std::path::Path;

use rand::RngExt;
use tokensim::engine::phase::EventRow;
use tokensim::engine::rng::AgentRng;
use tokensim::prelude::*;

use super::common::assert_close;

fn sim(text: &str, seed: u64) -> Simulation {
    let scenario = LoadedScenario::from_str(Path::new("inline.toml"), text).expect("scenario parses");
    Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(seed)).expect("scenario builds")
}

/// Steps one tick and returns its filled events, asserting no invariant broke.
fn step(sim: &mut Simulation) -> Vec<EventRow> {
    let log = sim.step();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    log.events.iter().filter(|e| e.rejected.is_none()).copied().collect()
}

const CURVE: &str = r#"
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
treasury = "pool"
[output]
events = true
"#;

#[test]
fn noise_trader_buys_the_fraction_its_own_draws_give() {
    let text = format!(
        "ticks = 3\n{CURVE}[populations.t]\ncount = 5\nbalances = {{ DAI = 1000.0 }}\n\
         behaviours.noise_trader = {{ contract = \"curve\", p_trade = 0.5, p_buy = 1.0, max_fraction = 0.2 }}\n"
    );
    let mut s = sim(&text, 9);
    // Replay each agent's generator: trade if u1 < 0.5; buy (p_buy = 1);
    // spend u3·0.2 of its DAI at that moment.
    let mut rngs: Vec<AgentRng> = (0..5).map(|id| AgentRng::new(s.run.seed, id)).collect();
    let mut dai = [1000.0f64; 5];
    for _ in 0..3 {
        let mut expected = Vec::new();
        for (id, rng) in rngs.iter_mut().enumerate() {
            if rng.0.random::<f64>() < 0.5 {
                let _buy: f64 = rng.0.random();
                let spend = rng.0.random::<f64>() * 0.2 * dai[id];
                dai[id] -= spend;
                expected.push((id as u64, spend));
            }
        }
        let events = step(&mut s);
        let got: Vec<(u64, f64)> = events.iter().map(|e| (e.agent.0, e.amount_in)).collect();
        assert_eq!(got.len(), expected.len(), "who trades: {got:?} vs {expected:?}");
        for ((a, x), (b, y)) in got.iter().zip(&expected) {
            assert_eq!(a, b);
            assert_close(*x, *y, 1e-12, "DAI spent");
        }
        assert!(events.iter().all(|e| e.action == Action::Buy));
    }
}

#[test]
fn staker_stakes_and_unstakes_what_its_fractions_say() {
    // p_stake = 1, p_unstake = 0: every tick each agent stakes half its
    // liquid tokens, so after n ticks it holds 100·2^−n liquid.
    let text = r#"
ticks = 4
assets = ["DAI", "TKN"]
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "pool"
rate = 0.0
[populations.s]
count = 3
balances = { TKN = 100.0 }
behaviours.staker = { pool = "staking", p_stake = 1.0, stake_fraction = 0.5, p_unstake = 0.0 }
[output]
events = true
"#;
    let mut s = sim(text, 1);
    for n in 1..=4 {
        let events = step(&mut s);
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.action == Action::Stake));
        s.for_each_agent(|_, w| {
            assert_close(w.get(AssetId(1)), 100.0 * 0.5f64.powi(n), 1e-12, "liquid TKN");
            assert_close(w.get(SlotId(2)), 100.0 * (1.0 - 0.5f64.powi(n)), 1e-12, "staked");
        });
    }
}

fn hatch(goal: f64, deadline: u32, p_contribute: f64) -> String {
    format!(
        r#"
ticks = 6
assets = ["DAI", "TKN"]
[contracts.fund]
kind = "treasury"
asset = "DAI"
[contracts.abc]
kind = "augmented_bonding_curve"
reserve_asset = "DAI"
token = "TKN"
funding_pool = "fund"
hatch_price = 0.5
hatch_goal = {goal}
hatch_deadline = {deadline}
hatch_tribute = 0.2
vesting_ticks = 10
kappa = 2.0
[populations.h]
count = 4
balances = {{ DAI = 100.0 }}
behaviours.hatcher = {{ abc = "abc", p_contribute = {p_contribute}, contribution = 0.5 }}
[output]
events = true
"#
    )
}

#[test]
fn hatchers_contribute_once_during_the_hatch() {
    // Goal 200 = 4 agents × half of 100 DAI: all contribute at tick 1, the
    // hatch closes, nobody sends anything after.
    let mut s = sim(&hatch(200.0, 5, 1.0), 1);
    let first = step(&mut s);
    assert_eq!(first.len(), 4);
    for e in &first {
        assert_eq!(e.action, Action::Buy);
        assert_close(e.amount_in, 50.0, 1e-12, "contribution");
        assert_close(e.amount_out, 100.0, 1e-12, "locked tokens at 0.5 DAI each");
    }
    for _ in 2..=6 {
        assert!(step(&mut s).is_empty(), "a hatcher contributes once");
    }
}

#[test]
fn hatchers_redeem_their_contribution_when_the_hatch_fails() {
    // Goal 1,000 is never met; after the deadline (tick 2) every hatcher
    // redeems the 50 DAI it put in, and holds 100 DAI again.
    let mut s = sim(&hatch(1000.0, 2, 1.0), 1);
    assert_eq!(step(&mut s).len(), 4);
    let mut redeemed = Vec::new();
    for _ in 2..=6 {
        redeemed.extend(step(&mut s).into_iter().filter(|e| e.action == Action::Redeem));
    }
    assert_eq!(redeemed.len(), 4, "{redeemed:?}");
    s.for_each_agent(|_, w| assert_close(w.get(AssetId(0)), 100.0, 1e-12, "DAI back"));
}
