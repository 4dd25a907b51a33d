//! Replayed orders drive a bonding curve deterministically; every number is
//! checked against the closed-form curve computed here.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use crate::common::*;

const M: f64 = 1e-6;
const S0: f64 = 1_000_000.0;
const F_IN: f64 = 0.05;
const F_OUT: f64 = 0.05;
const REL: f64 = 1e-12;

/// Tokens agent 0 sells at tick 2 (it bought about 95 at tick 1).
const SELL: f64 = 50.0;

/// The orders: `(tick, agent, side, amount)`, in file order.
const ORDERS: &[(u32, u64, &str, f64)] = &[
    (1, 0, "buy", 100.0),
    (2, 1, "buy", 200.0),
    (2, 0, "sell", SELL),
    (3, 2, "buy", 5000.0), // agent 2 holds 1000 DAI: rejected
    (4, 2, "sell", 1.0),   // agent 2 holds no TKN: rejected
];

fn scenario(orders_file: &str) -> String {
    format!(
        r#"
name = "replay"
seed = 3
ticks = 5
snapshot_every = 1
assets = ["DAI", "TKN"]

[contracts.funding_pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
exponent = 1.0
slope = 1e-6
initial_supply = 1_000_000.0
entry_tribute = 0.05
exit_tribute = 0.05
treasury = "funding_pool"

[populations.holders]
count = 3
balances = {{ DAI = 1000.0 }}

[orders]
file = "{orders_file}"
"#
    )
}

fn write_csv(dir: &Path) {
    let mut text = String::from("tick,agent_id,side,amount\n");
    for (tick, agent, side, amount) in ORDERS {
        text.push_str(&format!("{tick},{agent},{side},{amount}\n"));
    }
    write_file(dir, "orders.csv", &text);
}

fn write_parquet(dir: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("tick", DataType::UInt32, false),
        Field::new("agent_id", DataType::UInt64, false),
        Field::new("side", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from_iter_values(ORDERS.iter().map(|o| o.0))),
            Arc::new(UInt64Array::from_iter_values(ORDERS.iter().map(|o| o.1))),
            Arc::new(StringArray::from_iter_values(ORDERS.iter().map(|o| o.2))),
            Arc::new(Float64Array::from_iter_values(ORDERS.iter().map(|o| o.3))),
        ],
    )
    .expect("orders batch");
    let file = std::fs::File::create(dir.join("orders.parquet")).expect("create orders.parquet");
    let mut writer = ArrowWriter::try_new(file, schema, None).expect("parquet writer");
    writer.write(&batch).expect("write orders");
    writer.close().expect("close orders");
}

/// The expected state after each tick, computed from the curve by hand.
struct Expected {
    supply: [f64; 5],
    reserve: [f64; 5],
    pool: [f64; 5],
    volume: [f64; 5],
    tributes: [f64; 5],
    n_trades: [u64; 5],
    n_rejected: [u64; 5],
    /// Tokens agent 0 receives at tick 1, agent 1 at tick 2.
    bought0: f64,
    bought1: f64,
    /// Reserve released by agent 0's sale.
    released: f64,
    /// Wallets `[dai, tkn]` of agents 0..3 after each tick.
    wallets: [[[f64; 2]; 3]; 5],
}

fn supply_for(reserve: f64) -> f64 {
    (2.0 * reserve / M).sqrt()
}

fn reserve_at(supply: f64) -> f64 {
    M / 2.0 * supply * supply
}

fn expected() -> Expected {
    let r0 = reserve_at(S0);
    assert_eq!(r0, 500_000.0);
    // Tick 1: agent 0 buys 100 DAI.
    let r1 = r0 + (1.0 - F_IN) * 100.0;
    let s1 = supply_for(r1);
    let bought0 = s1 - S0;
    let pool1 = F_IN * 100.0;
    // Tick 2: agent 1 buys 200 DAI, then agent 0 sells SELL tokens.
    let r2a = r1 + (1.0 - F_IN) * 200.0;
    let s2a = supply_for(r2a);
    let bought1 = s2a - s1;
    assert!(SELL < bought0, "the sale must be covered");
    let s2 = s2a - SELL;
    let released = reserve_at(s2a) - reserve_at(s2);
    let r2 = reserve_at(s2);
    let pool2 = pool1 + F_IN * 200.0 + F_OUT * released;
    let w1 = [[900.0, bought0], [1000.0, 0.0], [1000.0, 0.0]];
    let w2 = [[900.0 + (1.0 - F_OUT) * released, bought0 - SELL], [800.0, bought1], [1000.0, 0.0]];
    Expected {
        // Ticks 3 and 4 only hold rejected orders, tick 5 nothing.
        supply: [s1, s2, s2, s2, s2],
        reserve: [r1, r2, r2, r2, r2],
        pool: [pool1, pool2, pool2, pool2, pool2],
        volume: [100.0, 200.0 + released, 0.0, 0.0, 0.0],
        tributes: [F_IN * 100.0, F_IN * 200.0 + F_OUT * released, 0.0, 0.0, 0.0],
        n_trades: [1, 2, 0, 0, 0],
        n_rejected: [0, 0, 1, 1, 0],
        bought0,
        bought1,
        released,
        wallets: [w1, w2, w2, w2, w2],
    }
}

fn run_replay(orders_file: &str, write: fn(&Path)) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    write(dir.path());
    let scenario = write_file(dir.path(), "replay.toml", &scenario(orders_file));
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--events"]);
    (dir, out)
}

fn check_ticks(out: &Path, e: &Expected) {
    let ticks = read_parquet(&out.join("ticks.parquet"));
    assert_eq!(
        column_names(&ticks),
        [
            "run_id",
            "tick",
            "funding_pool_balance",
            "curve_supply",
            "curve_reserve",
            "curve_price",
            "curve_n_trades",
            "curve_volume",
            "curve_tributes",
            "n_tx",
            "n_rejected"
        ],
        "default metric columns are <contract>_<metric>, contracts in file order"
    );
    assert_eq!(u64s(&ticks, "tick"), [1, 2, 3, 4, 5]);
    let (supply, reserve, price) =
        (f64s(&ticks, "curve_supply"), f64s(&ticks, "curve_reserve"), f64s(&ticks, "curve_price"));
    let (volume, tributes, pool) =
        (f64s(&ticks, "curve_volume"), f64s(&ticks, "curve_tributes"), f64s(&ticks, "funding_pool_balance"));
    for t in 0..5 {
        let tick = t + 1;
        assert_close(supply[t], e.supply[t], REL, &format!("supply at tick {tick}"));
        assert_close(reserve[t], e.reserve[t], REL, &format!("reserve at tick {tick}"));
        assert_close(price[t], M * e.supply[t], REL, &format!("price at tick {tick}"));
        assert_close(pool[t], e.pool[t], REL, &format!("funding pool at tick {tick}"));
        assert_close(volume[t], e.volume[t], REL, &format!("volume at tick {tick}"));
        assert_close(tributes[t], e.tributes[t], REL, &format!("tributes at tick {tick}"));
    }
    assert_eq!(u64s(&ticks, "curve_n_trades"), e.n_trades);
    assert_eq!(u64s(&ticks, "n_tx"), e.n_trades, "only curve trades settle");
    assert_eq!(u64s(&ticks, "n_rejected"), e.n_rejected);
}

fn check_events(out: &Path, e: &Expected) {
    let ev = read_parquet(&out.join("events.parquet"));
    assert_eq!(ev.num_rows(), ORDERS.len(), "one event per order, settled or rejected");
    assert_eq!(u64s(&ev, "tick"), ORDERS.iter().map(|o| u64::from(o.0)).collect::<Vec<_>>());
    assert_eq!(u64s(&ev, "agent_id"), ORDERS.iter().map(|o| o.1).collect::<Vec<_>>(), "file order");
    assert_eq!(strings(&ev, "action"), ORDERS.iter().map(|o| o.2).collect::<Vec<_>>());
    assert!(strings(&ev, "contract").iter().all(|c| c == "curve"));
    assert!(bools(&ev, "replayed").iter().all(|&r| r), "every event comes from the orders file");
    assert_eq!(strings(&ev, "status"), ["ok", "ok", "ok", "rejected", "rejected"]);
    let reason = opt_strings(&ev, "reason");
    assert!(reason[..3].iter().all(Option::is_none), "settled rows carry no reason: {reason:?}");
    assert!(reason[3..].iter().all(|r| r.as_deref().is_some_and(|r| !r.is_empty())), "{reason:?}");
    let (a_in, a_out, fee) = (f64s(&ev, "amount_in"), f64s(&ev, "amount_out"), f64s(&ev, "fee"));
    let expected_rows = [
        (100.0, e.bought0, F_IN * 100.0),
        (200.0, e.bought1, F_IN * 200.0),
        (SELL, (1.0 - F_OUT) * e.released, F_OUT * e.released),
        (5000.0, 0.0, 0.0),
        (1.0, 0.0, 0.0),
    ];
    for (i, (x_in, x_out, x_fee)) in expected_rows.into_iter().enumerate() {
        assert_close(a_in[i], x_in, REL, &format!("amount_in of event {i}"));
        assert_close(a_out[i], x_out, REL, &format!("amount_out of event {i}"));
        assert_close(fee[i], x_fee, REL, &format!("fee of event {i}"));
    }
}

fn check_agents(out: &Path, e: &Expected) {
    let agents = read_parquet(&out.join("agents.parquet"));
    assert_eq!(column_names(&agents), ["run_id", "tick", "agent_id", "dai", "tkn"]);
    assert_eq!(agents.num_rows(), 15);
    let (tick, id) = (u64s(&agents, "tick"), u64s(&agents, "agent_id"));
    let (dai, tkn) = (f64s(&agents, "dai"), f64s(&agents, "tkn"));
    for row in 0..15 {
        let (t, a) = (row / 3, row % 3);
        assert_eq!((tick[row], id[row]), (t as u64 + 1, a as u64));
        let [x_dai, x_tkn] = e.wallets[t][a];
        assert_close(dai[row], x_dai, REL, &format!("DAI of agent {a} at tick {}", t + 1));
        assert_close(tkn[row], x_tkn, REL, &format!("TKN of agent {a} at tick {}", t + 1));
    }
}

#[test]
fn csv_orders_replay_exactly() {
    let e = expected();
    let (_dir, out) = run_replay("orders.csv", write_csv);
    assert!(!out.join("violations.parquet").exists());
    check_ticks(&out, &e);
    check_events(&out, &e);
    check_agents(&out, &e);
    let m = manifest(&out);
    assert_eq!((m["transactions"].as_u64(), m["rejected"].as_u64()), (Some(3), Some(2)));
}

#[test]
fn parquet_orders_replay_like_csv() {
    let e = expected();
    let (_csv_dir, csv_out) = run_replay("orders.csv", write_csv);
    let (_pq_dir, pq_out) = run_replay("orders.parquet", write_parquet);
    check_ticks(&pq_out, &e);
    check_events(&pq_out, &e);
    for file in ["ticks.parquet", "events.parquet", "agents.parquet"] {
        assert_eq!(
            read_parquet(&csv_out.join(file)),
            read_parquet(&pq_out.join(file)),
            "{file} differs between CSV and Parquet orders"
        );
    }
}

#[test]
fn orders_within_a_tick_settle_in_file_order() {
    // Swapping tick 2's rows (sell before buy) changes the result: the sale
    // then happens at the lower price. Check the program follows the file.
    let dir = tempdir();
    let text = "tick,agent_id,side,amount\n1,0,buy,100\n2,0,sell,50\n2,1,buy,200\n";
    write_file(dir.path(), "orders.csv", text);
    let scenario = write_file(dir.path(), "replay.toml", &scenario("orders.csv"));
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--ticks", "2", "--events"]);
    let s1 = supply_for(reserve_at(S0) + (1.0 - F_IN) * 100.0);
    let released = reserve_at(s1) - reserve_at(s1 - SELL);
    let s2 = supply_for(reserve_at(s1 - SELL) + (1.0 - F_IN) * 200.0);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    assert_eq!(u64s(&ticks, "tick"), [1, 2], "--ticks 2 overrides the scenario's 5");
    assert_close(f64s(&ticks, "curve_supply")[1], s2, REL, "supply after sell-then-buy");
    let pool = F_IN * 100.0 + F_OUT * released + F_IN * 200.0;
    assert_close(f64s(&ticks, "funding_pool_balance")[1], pool, REL, "pool after sell-then-buy");
    let ev = read_parquet(&out.join("events.parquet"));
    assert_eq!(strings(&ev, "action"), ["buy", "sell", "buy"]);
}

#[test]
fn orders_after_the_last_tick_are_counted_and_warned_about() {
    let dir = tempdir();
    write_csv(dir.path());
    let scenario = write_file(dir.path(), "replay.toml", &scenario("orders.csv"));
    let out_dir = dir.path().join("out");
    // With 2 ticks, the orders of ticks 3 and 4 never apply.
    let out = run(&["run", path_str(&scenario), "-o", path_str(&out_dir), "--ticks", "2"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let beyond = ORDERS.iter().filter(|o| o.0 > 2).count() as u64;
    assert!(stderr(&out).contains(&format!("warning: {beyond} replayed orders")), "{}", describe(&out));
    assert_eq!(manifest(&out_dir)["unplayed_orders"].as_u64(), Some(beyond));
    // A full-length run applies every order and warns about none.
    let full = dir.path().join("full");
    let out = run(&["run", path_str(&scenario), "-o", path_str(&full)]);
    assert!(!stderr(&out).contains("warning"), "{}", describe(&out));
    assert_eq!(manifest(&full)["unplayed_orders"].as_u64(), Some(0));
}
