//! Conservation laws on the `market` benchmark model, checked from the
//! output files alone.

use std::collections::BTreeMap;

use arrow::datatypes::DataType;

use crate::common::*;

const AGENTS: u64 = 2000;
const TICKS: u32 = 60;
const EVERY: u32 = 10;
const DAI_PER_AGENT: f64 = 1000.0;
const HATCH: f64 = 1_000_000.0;
const SLOPE: f64 = 1e-6;
const STAKING_RATE: f64 = 0.01;
const REL: f64 = 1e-9;

/// Per-tick totals of the events table.
#[derive(Default, Debug)]
struct TickEvents {
    ok: u64,
    rejected: u64,
    trades: u64,
    volume: f64,
    tributes: f64,
}

#[test]
fn market_conserves_dai_and_tokens() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "market.toml", &small_market(AGENTS, TICKS, EVERY));
    let out = dir.path().join("out");
    let output = run_ok(&scenario, &out, &["--events"]);
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "--quiet prints nothing\n{}",
        describe(&output)
    );

    let files = list_dir(&out);
    assert!(!out.join("violations.parquet").exists(), "no invariant may break: {files:?}");
    assert!(!files.iter().any(|f| f.ends_with(".partial")), "partial files left behind: {files:?}");
    for f in ["runs.parquet", "ticks.parquet", "events.parquet", "agents.parquet", "manifest.json"] {
        assert!(files.contains(&f.to_string()), "missing {f}: {files:?}");
    }
    let m = manifest(&out);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["violations"], 0);

    // ticks.parquet: exact schema, one row per tick.
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let expected_columns = [
        ("run_id", DataType::UInt32),
        ("tick", DataType::UInt32),
        ("supply", DataType::Float64),
        ("reserve", DataType::Float64),
        ("price", DataType::Float64),
        ("funding_pool", DataType::Float64),
        ("total_staked", DataType::Float64),
        ("n_trades", DataType::UInt64),
        ("volume_dai", DataType::Float64),
        ("n_tx", DataType::UInt64),
        ("n_rejected", DataType::UInt64),
    ];
    let schema = ticks.schema();
    let actual: Vec<(String, DataType)> =
        schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let expected: Vec<(String, DataType)> =
        expected_columns.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    assert_eq!(actual, expected, "ticks.parquet schema");
    assert_eq!(u64s(&ticks, "tick"), (1..=u64::from(TICKS)).collect::<Vec<_>>());
    assert!(u64s(&ticks, "run_id").iter().all(|&r| r == 0));

    let supply = f64s(&ticks, "supply");
    let reserve = f64s(&ticks, "reserve");
    let price = f64s(&ticks, "price");
    let pool = f64s(&ticks, "funding_pool");
    let staked = f64s(&ticks, "total_staked");
    let n_trades = u64s(&ticks, "n_trades");
    let volume = f64s(&ticks, "volume_dai");
    let n_tx = u64s(&ticks, "n_tx");
    let n_rejected = u64s(&ticks, "n_rejected");

    // The curve identity and spot price hold at every tick.
    for t in 0..TICKS as usize {
        let s = supply[t];
        assert_close(reserve[t], SLOPE / 2.0 * s * s, REL, &format!("reserve(S) at tick {}", t + 1));
        assert_close(price[t], SLOPE * s, REL, &format!("price at tick {}", t + 1));
        assert!(pool[t] >= 0.0 && staked[t] >= 0.0 && s >= HATCH * (1.0 - REL), "tick {}", t + 1);
    }
    assert!(n_trades.iter().sum::<u64>() > 0, "the traders must trade");
    assert!(staked.iter().any(|&s| s > 0.0), "the stakers must stake");

    // ticks agrees with events: counts, volume, and the funding pool's
    // tributes-in, rate-of-balance-out recurrence.
    let events = read_parquet(&out.join("events.parquet"));
    let mut per_tick: BTreeMap<u64, TickEvents> = BTreeMap::new();
    let (tick_col, action, status) =
        (u64s(&events, "tick"), strings(&events, "action"), strings(&events, "status"));
    let (contract, replayed) = (strings(&events, "contract"), bools(&events, "replayed"));
    let (a_in, a_out, fee) = (f64s(&events, "amount_in"), f64s(&events, "amount_out"), f64s(&events, "fee"));
    let reason = opt_strings(&events, "reason");
    for i in 0..events.num_rows() {
        assert!(!replayed[i], "no orders file, so nothing is replayed");
        let e = per_tick.entry(tick_col[i]).or_default();
        match status[i].as_str() {
            "ok" => {
                assert!(reason[i].is_none(), "settled row {i} has a reason");
                e.ok += 1;
            }
            "rejected" => {
                assert!(reason[i].is_some(), "rejected row {i} has no reason");
                e.rejected += 1;
                continue;
            }
            other => panic!("status `{other}`"),
        }
        match (contract[i].as_str(), action[i].as_str()) {
            ("curve", "buy") => {
                e.trades += 1;
                e.volume += a_in[i];
                e.tributes += fee[i];
                assert_close(fee[i], 0.05 * a_in[i], REL, "entry tribute");
            }
            ("curve", "sell") => {
                e.trades += 1;
                e.volume += a_out[i] + fee[i];
                e.tributes += fee[i];
                assert_close(fee[i], 0.05 / 0.95 * a_out[i], REL, "exit tribute");
            }
            ("staking", "stake" | "unstake") => {
                assert_eq!(a_in[i], a_out[i], "staking moves tokens one for one");
                assert_eq!(fee[i], 0.0);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    let mut prev_pool = 0.0;
    for t in 0..TICKS as usize {
        let tick = t as u64 + 1;
        let e = per_tick.remove(&tick).unwrap_or_default();
        assert_eq!(n_trades[t], e.trades, "n_trades at tick {tick}");
        assert_eq!(n_tx[t], e.ok, "n_tx at tick {tick}");
        assert_eq!(n_rejected[t], e.rejected, "n_rejected at tick {tick}");
        assert_close(volume[t], e.volume, REL, &format!("volume_dai at tick {tick}"));
        let keep = if staked[t] > 0.0 { 1.0 - STAKING_RATE } else { 1.0 };
        let expected_pool = (prev_pool + e.tributes) * keep;
        assert_close(pool[t], expected_pool, REL, &format!("funding_pool at tick {tick}"));
        prev_pool = pool[t];
    }
    assert!(per_tick.is_empty(), "events at ticks outside 1..={TICKS}: {:?}", per_tick.keys());
    assert_eq!(m["transactions"], n_tx.iter().sum::<u64>());
    assert_eq!(m["rejected"], n_rejected.iter().sum::<u64>());

    // agents.parquet: every agent at every snapshot tick; balances conserve.
    let agents = read_parquet(&out.join("agents.parquet"));
    assert_eq!(column_names(&agents), ["run_id", "tick", "agent_id", "dai", "tkn", "staked"]);
    let snapshot_ticks: Vec<u64> = (1..=u64::from(TICKS / EVERY)).map(|k| k * u64::from(EVERY)).collect();
    assert_eq!(agents.num_rows() as u64, AGENTS * snapshot_ticks.len() as u64);
    let (a_tick, a_id) = (u64s(&agents, "tick"), u64s(&agents, "agent_id"));
    let (dai, tkn, stk) = (f64s(&agents, "dai"), f64s(&agents, "tkn"), f64s(&agents, "staked"));
    let total_dai = AGENTS as f64 * DAI_PER_AGENT + SLOPE / 2.0 * HATCH * HATCH;
    assert_eq!(total_dai, 2_500_000.0);
    for (k, &tick) in snapshot_ticks.iter().enumerate() {
        let rows = k * AGENTS as usize..(k + 1) * AGENTS as usize;
        assert!(a_tick[rows.clone()].iter().all(|&t| t == tick), "snapshot {k} is tick {tick}");
        assert_eq!(a_id[rows.clone()], (0..AGENTS).collect::<Vec<_>>()[..], "agents in id order");
        for i in rows.clone() {
            assert!(
                dai[i] >= 0.0 && tkn[i] >= 0.0 && stk[i] >= 0.0,
                "negative balance: agent {} tick {tick}",
                a_id[i]
            );
        }
        let t = tick as usize - 1;
        let sum = |v: &[f64]| v[rows.clone()].iter().sum::<f64>();
        let (sum_dai, sum_tkn, sum_staked) = (sum(&dai), sum(&tkn), sum(&stk));
        assert_close(
            sum_dai + reserve[t] + pool[t],
            total_dai,
            REL,
            &format!("DAI conservation at tick {tick}"),
        );
        assert_close(
            sum_tkn + sum_staked + HATCH,
            supply[t],
            REL,
            &format!("TKN conservation at tick {tick}"),
        );
        assert_close(sum_staked, staked[t], REL, &format!("stake backing at tick {tick}"));
    }
}
