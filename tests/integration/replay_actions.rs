//! Orders files drive every mechanism family with every action a behaviour
//! can send (stake, unstake, withdraw; deposit, borrow, repay, redeem,
//! liquidate; swaps by exact input, add and remove liquidity): the results
//! equal hand computations, a replayed sell equals the same sell sent by a
//! behaviour, and bad rows are located errors.

use crate::common::*;

const REL: f64 = 1e-12;

/// Runs `scenario` (with `orders.csv` holding `orders`) and returns the
/// tick and event tables.
fn replay(scenario: &str, orders: &str) -> (arrow::array::RecordBatch, arrow::array::RecordBatch) {
    let dir = tempdir();
    write_file(dir.path(), "orders.csv", orders);
    let path = write_file(dir.path(), "s.toml", scenario);
    let out = dir.path().join("out");
    run_ok(&path, &out, &["--events"]);
    (read_parquet(&out.join("ticks.parquet")), read_parquet(&out.join("events.parquet")))
}

/// The `(action, status, amount_in, amount_out)` of every event.
fn events(e: &arrow::array::RecordBatch) -> Vec<(String, String, f64, f64)> {
    let (a, s) = (strings(e, "action"), strings(e, "status"));
    let (i, o) = (f64s(e, "amount_in"), f64s(e, "amount_out"));
    (0..a.len()).map(|k| (a[k].clone(), s[k].clone(), i[k], o[k])).collect()
}

fn assert_all_close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (t, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_close(*a, *e, REL, &format!("{what}, tick {}", t + 1));
    }
}

const STAKING: &str = r#"
ticks = 4
assets = ["TKN"]
[contracts.rewards]
kind = "treasury"
asset = "TKN"
[contracts.pool]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "rewards"
rate = 0.0
unbonding_ticks = 2
[populations.holders]
count = 2
balances = { TKN = 100.0 }
[orders]
file = "orders.csv"
"#;

#[test]
fn orders_stake_unstake_and_withdraw_through_unbonding() {
    // Agent 0 stakes 60 and agent 1 30 at tick 1; agent 0 unstakes 20 at
    // tick 2 (released at 2 + 2 = 4), tries to withdraw at 3 (refused:
    // nothing matured) and withdraws at 4.
    let orders = "tick,agent_id,side,amount\n1,0,stake,60\n1,1,stake,30\n2,0,unstake,20\n3,0,withdraw,20\n4,0,withdraw,20\n";
    let (ticks, ev) = replay(STAKING, orders);
    assert_all_close(&f64s(&ticks, "pool_total_staked"), &[90.0, 70.0, 70.0, 70.0], "staked");
    assert_all_close(&f64s(&ticks, "pool_total_unbonding"), &[0.0, 20.0, 20.0, 0.0], "unbonding");
    assert_eq!(u64s(&ticks, "n_rejected"), [0, 0, 1, 0]);
    let got = events(&ev);
    let kinds: Vec<(&str, &str)> = got.iter().map(|(a, s, ..)| (a.as_str(), s.as_str())).collect();
    assert_eq!(
        kinds,
        [("stake", "ok"), ("stake", "ok"), ("unstake", "ok"), ("withdraw", "rejected"), ("withdraw", "ok")]
    );
    // Stake, unstake and withdraw move one amount: in = out.
    for (k, q) in [(0, 60.0), (1, 30.0), (2, 20.0), (4, 20.0)] {
        assert_eq!((got[k].2, got[k].3), (q, q), "event {k}");
    }
}

fn lending() -> String {
    r#"
ticks = 5
assets = ["ETH", "USDC"]
[contracts.feed]
kind = "price_feed"
process = "constant"
initial = 2000.0
shocks = [{ tick = 4, factor = 0.5 }]
[contracts.market]
kind = "lending_market"
collateral = "ETH"
debt = "USDC"
oracle = "feed"
initial_liquidity = 100_000.0
max_ltv = 0.75
liquidation_threshold = 0.8
liquidation_bonus = 0.05
close_factor = 0.5
base_rate = 0.0
slope1 = 0.0
slope2 = 0.0
[populations.borrower]
count = 1
balances = { ETH = 2.0 }
[populations.liquidator]
count = 1
balances = { USDC = 10_000.0 }
[orders]
file = "orders.csv"
"#
    .to_string()
}

#[test]
fn orders_deposit_borrow_repay_redeem_and_liquidate() {
    let orders = "tick,agent_id,side,amount,about\n\
                  1,0,deposit,1,\n1,0,borrow,1000,\n2,0,repay,400,\n3,0,redeem,0.5,\n4,1,liquidate,300,0\n";
    let (ticks, ev) = replay(&lending(), orders);
    // By hand: debt 1000 → 600 (repay) → 300 (liquidation of
    // min(300, 0.5·600)); collateral 1 → 0.5 → 0.5 − 300·1.05/1000.
    let seized = 300.0 * 1.05 / 1000.0;
    assert_all_close(&f64s(&ticks, "market_total_debt"), &[1000.0, 600.0, 600.0, 300.0, 300.0], "debt");
    let c = 0.5 - seized;
    assert_all_close(&f64s(&ticks, "market_total_collateral"), &[1.0, 1.0, 0.5, c, c], "collateral");
    assert_all_close(
        &f64s(&ticks, "market_cash"),
        &[99_000.0, 99_400.0, 99_400.0, 99_700.0, 99_700.0],
        "cash",
    );
    assert_eq!(u64s(&ticks, "market_n_liquidations"), [0, 0, 0, 1, 0]);
    // Taken at Observe, before the tick's liquidation: at tick 4 the loan
    // (0.5 ETH at 1000, debt 600) is short by 100; at tick 5 by 300 − c·1000.
    assert_eq!(u64s(&ticks, "market_n_unhealthy"), [0, 0, 0, 1, 1]);
    assert_all_close(
        &f64s(&ticks, "market_shortfall"),
        &[0.0, 0.0, 0.0, 100.0, 300.0 - c * 1000.0],
        "shortfall",
    );
    let got = events(&ev);
    let expected = [
        ("deposit", 1.0, 0.0),
        ("borrow", 0.0, 1000.0),
        ("repay", 400.0, 0.0),
        ("redeem", 0.0, 0.5),
        ("liquidate", 300.0, seized),
    ];
    assert_eq!(got.len(), expected.len());
    for ((a, s, i, o), (ea, ei, eo)) in got.iter().zip(expected) {
        assert_eq!((a.as_str(), s.as_str()), (ea, "ok"));
        assert_close(*i, ei, REL, &format!("{a} amount_in"));
        assert_close(*o, eo, REL, &format!("{a} amount_out"));
    }
}

const AMM: &str = r#"
ticks = 4
assets = ["ETH", "USDC", "LP"]
[contracts.pool]
kind = "amm"
base = "ETH"
quote = "USDC"
lp_token = "LP"
fee = 0.003
initial_base = 100.0
initial_quote = 200_000.0
[populations.trader]
count = 1
balances = { ETH = 10.0, USDC = 10_000.0 }
"#;

#[test]
fn orders_swap_by_exact_input_and_add_and_remove_liquidity() {
    let scenario = format!("{AMM}[orders]\nfile = \"orders.csv\"\n");
    let orders = "tick,agent_id,side,amount\n1,0,buy,1000\n2,0,sell,1\n3,0,deposit,1000\n4,0,redeem,2\n";
    let (ticks, ev) = replay(&scenario, orders);
    let g = 0.997;
    let out = |r_in: f64, r_out: f64, a: f64| r_out * g * a / (r_in + g * a);
    let (x0, y0): (f64, f64) = (100.0, 200_000.0);
    let l0 = (x0 * y0).sqrt();
    let b1 = out(y0, x0, 1000.0);
    let (x1, y1) = (x0 - b1, y0 + 1000.0);
    let q2 = out(x1, y1, 1.0);
    let (x2, y2) = (x1 + 1.0, y1 - q2);
    let minted = l0 * 1000.0 / y2;
    let (x3, y3, l3) = (x2 + 1000.0 * x2 / y2, y2 + 1000.0, l0 + minted);
    let share = 2.0 / l3;
    let (x4, y4) = (x3 * (1.0 - share), y3 * (1.0 - share));
    assert_all_close(&f64s(&ticks, "pool_reserve_base"), &[x1, x2, x3, x4], "x");
    assert_all_close(&f64s(&ticks, "pool_reserve_quote"), &[y1, y2, y3, y4], "y");
    assert_all_close(&f64s(&ticks, "pool_lp_supply"), &[l0, l0, l3, l3 - 2.0], "LP supply");
    let got = events(&ev);
    let expected =
        [("buy", 1000.0, b1), ("sell", 1.0, q2), ("deposit", 1000.0, minted), ("redeem", 2.0, y3 * share)];
    for ((a, s, i, o), (ea, ei, eo)) in got.iter().zip(expected) {
        assert_eq!((a.as_str(), s.as_str()), (ea, "ok"));
        assert_close(*i, ei, REL, &format!("{a} amount_in"));
        assert_close(*o, eo, REL, &format!("{a} amount_out"));
    }
}

#[test]
fn a_replayed_sell_equals_the_same_sell_from_a_behaviour() {
    // A whale dumping all its 10 ETH at tick 2 and an order selling 10 ETH
    // at tick 2 leave the pool in the same state, bit for bit.
    let whale = AMM.replace(
        "balances = { ETH = 10.0, USDC = 10_000.0 }",
        "balances = { ETH = 10.0, USDC = 10_000.0 }\n[populations.trader.behaviours.whale]\nvenue = \"pool\"\nmode = \"dump\"\ntick = 2\nfraction = 1.0",
    );
    assert_ne!(whale, AMM);
    let dir = tempdir();
    let path = write_file(dir.path(), "whale.toml", &whale);
    run_ok(&path, &dir.path().join("whale"), &[]);
    let by_behaviour = read_parquet(&dir.path().join("whale/ticks.parquet"));
    let (by_order, _) = replay(
        &format!("{AMM}[orders]\nfile = \"orders.csv\"\n"),
        "tick,agent_id,side,amount\n2,0,sell,10\n",
    );
    for column in
        ["pool_reserve_base", "pool_reserve_quote", "pool_price", "pool_volume_quote", "pool_fees_quote"]
    {
        assert_eq!(f64s(&by_behaviour, column), f64s(&by_order, column), "{column}");
    }
    assert_eq!(u64s(&by_behaviour, "pool_n_swaps"), [0, 1, 0, 0]);
}

#[test]
fn orders_contribute_to_a_hatch_and_redeem_after_it_fails() {
    let scenario = r#"
ticks = 4
assets = ["DAI", "TKN"]
[contracts.funding_pool]
kind = "treasury"
asset = "DAI"
[contracts.abc]
kind = "augmented_bonding_curve"
reserve_asset = "DAI"
token = "TKN"
funding_pool = "funding_pool"
hatch_price = 0.1
hatch_goal = 10_000.0
hatch_deadline = 2
hatch_tribute = 0.2
vesting_ticks = 10
kappa = 4.0
[populations.backers]
count = 2
balances = { DAI = 1000.0 }
[orders]
file = "orders.csv"
"#;
    // 300 and 200 DAI at 0.1 DAI/TKN by tick 2 (the deadline); the goal is
    // missed, so a buy at tick 3 is refused and both redeem: agent 0 a
    // third of its contribution (burning a third of its 3000 locked
    // tokens), agent 1 all of it.
    let orders =
        "tick,agent_id,side,amount\n1,0,buy,300\n2,1,buy,200\n3,1,buy,10\n3,0,redeem,100\n4,1,redeem,200\n";
    let (ticks, ev) = replay(scenario, orders);
    assert_eq!(u64s(&ticks, "abc_phase"), [0, 0, 2, 2]);
    assert_all_close(&f64s(&ticks, "abc_raised"), &[300.0, 500.0, 400.0, 200.0], "raised");
    assert_all_close(&f64s(&ticks, "abc_supply"), &[3000.0, 5000.0, 4000.0, 2000.0], "supply");
    let got = events(&ev);
    let expected = [
        ("buy", "ok", 300.0, 3000.0),
        ("buy", "ok", 200.0, 2000.0),
        ("buy", "rejected", 10.0, 0.0), // a refused order records the amount asked
        ("redeem", "ok", 1000.0, 100.0),
        ("redeem", "ok", 2000.0, 200.0),
    ];
    assert_eq!(got.len(), expected.len());
    for ((a, s, i, o), (ea, es, ei, eo)) in got.iter().zip(expected) {
        assert_eq!((a.as_str(), s.as_str()), (ea, es));
        assert_close(*i, ei, REL, &format!("{a} amount_in"));
        assert_close(*o, eo, REL, &format!("{a} amount_out"));
    }
}

/// The error `tokensim validate` prints for the lending scenario with
/// `orders`.
fn orders_error(orders: &str) -> String {
    let dir = tempdir();
    write_file(dir.path(), "orders.csv", orders);
    let path = write_file(dir.path(), "s.toml", &lending());
    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    stderr(&out)
}

#[test]
fn bad_order_rows_are_located_errors_with_the_choices() {
    let head = "tick,agent_id,side,amount,about,contract\n";
    let e = orders_error(&format!("{head}1,0,deposit,1,,\n2,1,liquidate,10,,\n"));
    assert!(e.contains("orders.csv") && e.contains("line 3") && e.contains("`about`"), "{e}");
    let e = orders_error(&format!("{head}1,0,borrow,1,1,\n"));
    assert!(e.contains("line 2") && e.contains("only to liquidate"), "{e}");
    let e = orders_error(&format!("{head}1,0,swap,1,,\n"));
    assert!(
        e.contains("line 2") && e.contains("buy, sell, stake, unstake, withdraw, deposit, redeem"),
        "{e}"
    );
    let e = orders_error(&format!("{head}1,0,stake,1,,market\n"));
    assert!(e.contains("line 2") && e.contains("does not accept stake"), "{e}");
    let e = orders_error(&format!("{head}1,0,liquidate,1,7,\n"));
    assert!(e.contains("line 2") && e.contains("`about` 7 does not exist") && e.contains("0..1"), "{e}");
}
