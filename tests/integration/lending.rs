//! The lending market with its borrowers and liquidators: small worlds
//! whose decisions are known in advance, and the shipped cascade scenario
//! run end to end (no invariant broken, every asset conserved).

use std::path::Path;

use tokensim::engine::contract::Contracts;
use tokensim::engine::phase::EventRow;
use tokensim::mechanisms::lending_market::LendingMarket;
use tokensim::prelude::*;

use crate::common::*;

/// A world with a constant price feed (`oracle`, id 0, at 100, times
/// `shock` at tick 2) and a market (id 1) with 10 000 DAI and no interest,
/// followed by `populations`.
fn world(shock: f64, populations: &str) -> Simulation {
    let text = format!(
        r#"
ticks = 5
assets = ["TKN", "DAI"]
[output]
events = true
[contracts.oracle]
kind = "price_feed"
process = "constant"
initial = 100.0
shocks = [{{ tick = 2, factor = {shock} }}]
[contracts.market]
kind = "lending_market"
collateral = "TKN"
debt = "DAI"
oracle = "oracle"
initial_liquidity = 10_000.0
max_ltv = 0.75
liquidation_threshold = 0.8
liquidation_bonus = 0.05
close_factor = 0.5
base_rate = 0.0
slope1 = 0.0
slope2 = 0.0
{populations}
"#
    );
    let scenario = LoadedScenario::from_str(Path::new("lending.toml"), &text).expect("scenario parses");
    Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(1)).expect("scenario builds")
}

const MARKET: ContractId = ContractId(1);
const TKN: AssetId = AssetId(0);
const DAI: AssetId = AssetId(1);

fn market(sim: &Simulation) -> &LendingMarket {
    sim.world.resource::<Contracts>().downcast::<LendingMarket>(MARKET).expect("a lending market")
}

fn step(sim: &mut Simulation) -> Vec<EventRow> {
    let log = sim.step();
    assert!(log.violations.is_empty(), "tick {}: {:?}", sim.tick(), sim.log().violations);
    sim.log().events.clone()
}

fn wallets(sim: &mut Simulation) -> Vec<WalletBuf> {
    let mut out = Vec::new();
    sim.for_each_agent(|_, w| out.push(WalletBuf::from(w)));
    out
}

#[test]
fn borrower_deposits_then_borrows_to_its_target() {
    // 10 TKN at 100 DAI, target LTV 0.5: deposit 10, borrow 500, in that
    // order, in the first block; then nothing while the LTV stays in band.
    let mut sim = world(
        1.0,
        r#"
[populations.bob]
count = 1
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.5, band = 0.05 }
"#,
    );
    let events = step(&mut sim);
    let summary: Vec<(Action, f64, f64)> =
        events.iter().map(|e| (e.action, e.amount_in, e.amount_out)).collect();
    assert_eq!(summary, [(Action::Deposit, 10.0, 0.0), (Action::Borrow, 0.0, 500.0)]);
    assert!(events.iter().all(|e| e.rejected.is_none() && e.contract == MARKET));
    let w = wallets(&mut sim)[0];
    assert_eq!((w.get(TKN), w.get(DAI)), (0.0, 500.0));
    let loan = market(&sim).loan(AgentId(0)).expect("a loan");
    assert_eq!((loan.collateral, loan.debt), (10.0, 500.0));
    assert_eq!(market(&sim).cash(), 9_500.0);
    assert!(step(&mut sim).is_empty(), "LTV 0.5 is in band: nothing to do");
}

#[test]
fn borrower_repays_when_the_price_falls_out_of_band() {
    // At 80 after the shock, LTV = 500/800 = 0.625 > 0.55: repays down to
    // 0.5·800 = 400, i.e. 100 DAI from its wallet.
    let mut sim = world(
        0.8,
        r#"
[populations.bob]
count = 1
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.5, band = 0.05 }
"#,
    );
    step(&mut sim);
    let events = step(&mut sim);
    let summary: Vec<(Action, f64)> = events.iter().map(|e| (e.action, e.amount_in)).collect();
    assert_eq!(summary, [(Action::Repay, 100.0)]);
    assert_eq!(market(&sim).loan(AgentId(0)).unwrap().debt, 400.0);
}

#[test]
fn leveraged_borrower_loops_borrowed_funds_into_collateral() {
    // Oracle at 100; the venue is a linear bonding curve at the same
    // price (m = 1e-4, S0 = 1e6, reserve m/2·S0²). Tick 1: deposit 10,
    // borrow 500, buy TKN with the 500. Tick 2: deposit what it bought,
    // borrow back to LTV 0.5 and buy again.
    let mut sim = world(
        1.0,
        r#"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-4
initial_supply = 1_000_000.0
[populations.bob]
count = 1
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.5, band = 0.05, venue = "curve", leverage = true }
"#,
    );
    let (m, s0) = (1e-4, 1e6);
    let bought = |reserve: f64, paid: f64| (2.0 * (reserve + paid) / m).sqrt() - (2.0 * reserve / m).sqrt();
    let r0 = m / 2.0 * s0 * s0;
    let x1 = bought(r0, 500.0);
    let summary = |events: &[EventRow]| -> Vec<(Action, f64, f64)> {
        events.iter().map(|e| (e.action, e.amount_in, e.amount_out)).collect()
    };
    let events = step(&mut sim);
    assert!(events.iter().all(|e| e.rejected.is_none()), "{events:?}");
    let got = summary(&events);
    assert_eq!(got[..2], [(Action::Deposit, 10.0, 0.0), (Action::Borrow, 0.0, 500.0)]);
    assert_eq!((got[2].0, got[2].1), (Action::Buy, 500.0));
    assert_close(got[2].2, x1, 1e-9, "TKN bought");

    let events = step(&mut sim);
    let got = summary(&events);
    let borrow2 = 0.5 * (10.0 + x1) * 100.0 - 500.0;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, Action::Deposit);
    assert_close(got[0].1, x1, 1e-12, "deposits what it bought");
    assert_eq!(got[1].0, Action::Borrow);
    assert_close(got[1].2, borrow2, 1e-12, "borrows back to the target");
    assert_eq!(got[2].0, Action::Buy);
    assert_close(got[2].2, bought(r0 + 500.0, borrow2), 1e-9, "TKN bought again");
    let loan = market(&sim).loan(AgentId(0)).unwrap();
    assert_close(loan.debt, 500.0 + borrow2, 1e-12, "debt");
    assert_close(loan.debt / (loan.collateral * 100.0), 0.5, 1e-12, "LTV back at target");
}

#[test]
fn liquidator_liquidates_an_unhealthy_loan_by_the_closed_form() {
    // The liquidator (agent 0, settles first) holds 1 000 DAI; the
    // borrower (agent 1) borrows 700 against 10 TKN at 100. The price
    // falls to 80: HF = 10·80·0.8/700 < 1. The liquidator repays
    // 0.5·700 = 350 and receives 350·1.05/80 TKN; then the borrower,
    // who decided on the same prices, repays 700 − 0.7·800 = 140.
    let mut sim = world(
        0.8,
        r#"
[populations.keeper]
count = 1
balances = { DAI = 1000.0 }
behaviours.liquidator = { market = "market" }
[populations.bob]
count = 1
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.7, band = 0.01 }
"#,
    );
    let first = step(&mut sim);
    assert!(first.iter().all(|e| e.agent == AgentId(1)), "nothing to liquidate at 100: {first:?}");
    assert_eq!(market(&sim).loan(AgentId(1)).unwrap().debt, 700.0);

    let events = step(&mut sim);
    assert_eq!(market(&sim).price(), 80.0);
    let health = 10.0 * 80.0 * 0.8 / 700.0;
    assert!(health < 1.0);
    let (repaid, seized) = (0.5 * 700.0, 0.5 * 700.0 * 1.05 / 80.0);
    let liquidation: Vec<&EventRow> = events.iter().filter(|e| e.action == Action::Liquidate).collect();
    assert_eq!(liquidation.len(), 1, "{events:?}");
    let l = liquidation[0];
    assert_eq!((l.agent, l.rejected), (AgentId(0), None));
    assert_close(l.amount_in, repaid, 1e-12, "repaid");
    assert_close(l.amount_out, seized, 1e-12, "seized");
    assert_close(l.fee, seized - repaid / 80.0, 1e-12, "bonus in TKN");
    let repay: Vec<&EventRow> = events.iter().filter(|e| e.action == Action::Repay).collect();
    assert_eq!(repay.len(), 1);
    assert_close(repay[0].amount_in, 140.0, 1e-12, "borrower's repay");

    let w = wallets(&mut sim);
    assert_close(w[0].get(DAI), 1000.0 - repaid, 1e-12, "liquidator DAI");
    assert_close(w[0].get(TKN), seized, 1e-12, "liquidator TKN");
    let loan = market(&sim).loan(AgentId(1)).unwrap();
    assert_close(loan.collateral, 10.0 - seized, 1e-12, "collateral left");
    assert_close(loan.debt, 700.0 - repaid - 140.0, 1e-12, "debt left");
    assert_eq!(market(&sim).bad_debt(), 0.0);
}

#[test]
fn liquidators_spread_over_loans_and_skip_small_gains() {
    // Two borrowers (ids 3, 4) under water after the shock; two keepers
    // (ids 0, 1) take one loan each per tick, starting at
    // id · max_per_tick mod 2, so they pick different loans. A third liquidator (id 2) wants more than
    // the bonus is worth (0.05·350 = 17.5 DAI) and sends nothing.
    let mut sim = world(
        0.8,
        r#"
[populations.keepers]
count = 2
balances = { DAI = 1000.0 }
behaviours.liquidator = { market = "market", max_per_tick = 1 }
[populations.picky]
count = 1
balances = { DAI = 1000.0 }
behaviours.liquidator = { market = "market", min_bonus_value = 17.6 }
[populations.bobs]
count = 2
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.7, band = 0.01 }
"#,
    );
    step(&mut sim);
    let events = step(&mut sim);
    assert_eq!(market(&sim).unhealthy(), &[AgentId(3), AgentId(4)]);
    let liquidations: Vec<(AgentId, f64)> = events
        .iter()
        .filter(|e| e.action == Action::Liquidate)
        .map(|e| {
            assert_eq!(e.rejected, None);
            (e.agent, e.amount_in)
        })
        .collect();
    assert_eq!(liquidations, [(AgentId(0), 350.0), (AgentId(1), 350.0)]);
    for bob in [AgentId(3), AgentId(4)] {
        assert_close(market(&sim).loan(bob).unwrap().debt, 700.0 - 350.0 - 140.0, 1e-12, "debt left");
    }
}

/// Validates `text` and asserts exit 2 with an error at the line of
/// `at` that mentions every string of `says`.
#[track_caller]
fn rejected(text: &str, at: &str, says: &[&str]) {
    let dir = tempdir();
    let path = write_file(dir.path(), "bad.toml", text);
    let out = run(&["validate", path_str(&path)]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(!err.contains("panicked"), "{err}");
    let (line, _) = line_col_of(text, at);
    assert!(err.contains(&format!("bad.toml:{line}:")), "error not at line {line}:\n{err}");
    for s in says {
        assert!(err.contains(s), "`{s}` missing from:\n{err}");
    }
}

#[test]
fn bad_lending_parameters_are_located_errors() {
    let base = r#"ticks = 2
assets = ["TKN", "DAI"]
[contracts.oracle]
kind = "price_feed"
process = "constant"
initial = 100.0
[contracts.market]
kind = "lending_market"
collateral = "TKN"
debt = "DAI"
oracle = "oracle"
max_ltv = 0.75
liquidation_threshold = 0.8
[populations.bob]
count = 1
balances = { TKN = 10.0 }
behaviours.borrower = { market = "market", target_ltv = 0.5 }
"#;
    let bad = replace_once(base, "liquidation_threshold = 0.8", "liquidation_threshold = 0.7");
    rejected(&bad, "liquidation_threshold = 0.7", &["liquidation_threshold", "[0.75, 1)"]);
    let bad = replace_once(base, "oracle = \"oracle\"", "oracle = \"market\"");
    rejected(&bad, "oracle = \"market\"", &["oracle", "cannot name itself"]);
    let bad = replace_once(base, "target_ltv = 0.5 }", "target_ltv = 0.5, leverage = true }");
    rejected(&bad, "leverage = true", &["leverage", "venue"]);
    let bad = replace_once(base, "target_ltv = 0.5", "target_ltv = 1.5");
    rejected(&bad, "target_ltv = 1.5", &["target_ltv", "1.5"]);
    let bad = format!("{base}behaviours.liquidator = {{ market = \"oracle\" }}\n");
    rejected(&bad, "market = \"oracle\" }\n", &["does not accept `liquidate`", "market"]);
    // The lending market accepts deposit and redeem, but it is no pool with a price.
    let bad = format!(
        "{base}behaviours.liquidity_provider = {{ pool = \"market\", p_add = 0.1, p_remove = 0.1 }}\n"
    );
    rejected(&bad, "pool = \"market\"", &["`market` (lending_market) has no price"]);
}

/// Σ over agents' wallets and every ledger account, per asset.
fn holdings(sim: &mut Simulation) -> Vec<f64> {
    let n_assets = sim.slots().n_assets;
    let mut total = vec![0.0; n_assets];
    sim.for_each_agent(|_, w| {
        for (a, t) in total.iter_mut().enumerate() {
            *t += w.balances()[a];
        }
    });
    for acc in &sim.world.resource::<Ledger>().accounts {
        for (a, t) in total.iter_mut().enumerate() {
            *t += acc.balances[a];
        }
    }
    total
}

#[test]
fn cascade_scenario_conserves_every_asset_and_balances_the_books() {
    let scenario = LoadedScenario::load(&shipped_scenario("lending_cascade.toml")).expect("scenario loads");
    let mut sim = Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(scenario.scenario.seed))
        .expect("scenario builds");
    let contracts = sim.world.resource::<Contracts>();
    let id = contracts.0.iter().position(|s| s.name == "market").expect("a contract called market");
    let market_id = ContractId(id as u16);
    let column = |name: &str| sim.metric_columns.iter().find(|c| c.name == name).expect(name).index;
    let (n_liq, bad) = (column("n_liquidations"), column("bad_debt"));
    let issued = sim.world.resource::<Ledger>().issued;
    let start = holdings(&mut sim);
    for (a, held) in start.iter().enumerate() {
        assert_close(*held, issued[a], 1e-12, "genesis holdings");
    }

    let (mut liquidations, mut bad_debt) = (0.0, 0.0);
    while sim.tick() < sim.ticks {
        let log = sim.step();
        assert!(log.violations.is_empty(), "tick {}: {:?}", sim.tick(), sim.log().violations);
        liquidations += log.metrics[n_liq];
        bad_debt = log.metrics[bad];
    }
    // Nothing mints or burns ETH or USDC here: every unit is still
    // somewhere (agents, pool, market, genesis accounts).
    let end = holdings(&mut sim);
    let now = sim.world.resource::<Ledger>().issued;
    for (a, held) in end.iter().enumerate() {
        assert_eq!(now[a], issued[a], "issuance of asset {a} changed");
        assert_close(*held, start[a], 1e-9, &format!("holdings of asset {a}"));
    }

    // The market's books, recomputed from its loans one by one.
    let n_agents = sim.n_agents;
    let ledger = sim.world.resource::<Ledger>().clone();
    let m = sim.world.resource::<Contracts>().downcast::<LendingMarket>(market_id).expect("market");
    let (mut collateral, mut debt) = (0.0, 0.0);
    for i in 0..n_agents {
        if let Some(loan) = m.loan(AgentId(i)) {
            assert!(loan.collateral > 0.0 || loan.debt == 0.0, "agent {i}: debt without collateral");
            collateral += loan.collateral;
            debt += loan.debt;
        }
    }
    let account = AccountId(id as u16);
    assert_close(collateral, ledger.balance(account, m.collateral_asset()), 1e-9, "collateral held");
    assert_close(debt, m.total_debt(), 1e-9, "total debt");
    assert_close(m.cash(), ledger.balance(account, m.debt_asset()), 1e-9, "cash held");
    assert_close(m.cash() + debt + m.bad_debt(), 60_000_000.0 + m.interest_accrued(), 1e-9, "accounting");
    assert_eq!(bad_debt, m.bad_debt());
    // The crash did trigger the mechanism under test.
    assert!(liquidations > 100.0, "only {liquidations} liquidations");
}

#[test]
fn cascade_scenario_variants_run_clean_from_the_cli() {
    let dir = tempdir();
    let out = dir.path().join("out");
    run_ok(&shipped_scenario("lending_cascade.toml"), &out, &["--events"]);
    assert!(!out.join("violations.parquet").exists(), "no invariant may break: {:?}", list_dir(&out));
    let m = manifest(&out);
    assert_eq!((m["status"].as_str(), m["violations"].as_u64()), (Some("complete"), Some(0)));
    let runs = read_parquet(&out.join("runs.parquet"));
    let mut variants = strings(&runs, "variant");
    variants.dedup();
    assert_eq!(variants, ["bonus_2pct", "bonus_5pct", "bonus_10pct", "bonus_15pct"]);
    let mut ticks = Vec::new();
    for f in list_dir(&out).iter().filter(|f| f.starts_with("ticks")) {
        ticks.push(read_parquet(&out.join(f)));
    }
    for t in &ticks {
        let (run, bad, liquidated) = (u64s(t, "run_id"), f64s(t, "bad_debt"), f64s(t, "liquidated_eth"));
        for i in 1..run.len() {
            if run[i] == run[i - 1] {
                assert!(bad[i] >= bad[i - 1], "bad debt is cumulative");
            }
        }
        assert!(liquidated.iter().sum::<f64>() > 0.0);
    }
    // Every liquidation names its borrower, another agent; nothing else
    // names one.
    let mut liquidations = 0;
    for f in list_dir(&out).iter().filter(|f| f.starts_with("events")) {
        let ev = read_parquet(&out.join(f));
        let (agent, action, target) =
            (u64s(&ev, "agent_id"), strings(&ev, "action"), opt_u64s(&ev, "target_id"));
        for i in 0..agent.len() {
            if action[i] == "liquidate" {
                let borrower = target[i].expect("a liquidation names its borrower");
                assert_ne!(borrower, agent[i]);
                liquidations += 1;
            } else {
                assert_eq!(target[i], None, "{} names no other agent", action[i]);
            }
        }
    }
    assert!(liquidations > 0);
}
