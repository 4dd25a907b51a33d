//! Emission and the staking pool's extensions (unbonding, slashing, yield
//! metrics), end to end: the shipped `staking_emission` scenario against
//! closed forms and conservation, a staker whose decisions are known in
//! advance, build-time rejections, and the `market` model unchanged.

use std::path::Path;

use arrow::array::RecordBatch;
use rand::RngExt;
use tokensim::engine::rng::AgentRng;
use tokensim::prelude::*;

use crate::common::*;

const REL: f64 = 1e-9;
const SLASH_TICK: usize = 180;
const SLASH_FRACTION: f64 = 0.05;
const TICKS_PER_YEAR: f64 = 365.0;

/// Tokens the emission of `variant` mints at tick `t` (independent of the
/// crate's `Schedule`; parameters as in the shipped scenario).
fn scheduled(variant: &str, t: usize) -> f64 {
    let n = (t - 1) as i32;
    match variant {
        "constant" => 2_740.0,
        "exponential" => 5_956.0 * 0.995f64.powi(n),
        "halving" => 5_915.0 / 2f64.powi(n / 90),
        other => panic!("unknown variant {other}"),
    }
}

#[test]
fn staking_emission_scenario_matches_its_closed_forms_and_conserves_tokens() {
    let dir = tempdir();
    // The shipped scenario, with agent snapshots every 30 ticks and the
    // rewards treasury's balance as a column.
    let text = shipped_scenario_text("staking_emission.toml");
    let text = replace_once(&text, "runs = 3", "runs = 1\nsnapshot_every = 30");
    let text = format!("{text}rewards = \"rewards.balance\"\n");
    let scenario = write_file(dir.path(), "staking_emission.toml", &text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let m = manifest(&out);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["violations"], 0, "no invariant may break");
    assert!(!list_dir(&out).iter().any(|f| f.starts_with("violations")), "{:?}", list_dir(&out));

    let runs = read_parquet(&out.join("runs.parquet"));
    let variants = strings(&runs, "variant");
    assert_eq!(variants, ["constant", "exponential", "halving"]);
    for (run, variant) in variants.iter().enumerate() {
        let ticks = read_parquet(&out.join(format!("ticks-p{run:03}.parquet")));
        let agents = read_parquet(&out.join(format!("agents-p{run:03}.parquet")));
        check_run(run as u64, variant, &ticks, &agents);
    }
}

fn check_run(run: u64, variant: &str, ticks: &RecordBatch, agents: &RecordBatch) {
    assert!(
        u64s(ticks, "run_id").iter().chain(&u64s(agents, "run_id")).all(|&r| r == run),
        "part {run} holds run {run}"
    );
    let col = |name: &str| f64s(ticks, name);
    let (emitted, total_emitted, inflation) = (col("emitted"), col("total_emitted"), col("inflation"));
    let (staked, unbonding, slashed) = (col("total_staked"), col("total_unbonding"), col("slashed"));
    let (apr, real_yield, ratio) = (col("apr"), col("real_yield"), col("staking_ratio"));
    let (rewards_paid, rewards) = (col("rewards_paid"), col("rewards"));
    let n = emitted.len();
    assert_eq!(n, 365);

    let mut total = 0.0;
    for t in 1..=n {
        let i = t - 1;
        let what = |m: &str| format!("{variant}, tick {t}: {m}");
        let a = scheduled(variant, t);
        total += a;
        assert_close(emitted[i], a, REL, &what("emitted follows the schedule"));
        assert_close(total_emitted[i], total, REL, &what("total_emitted"));
        // The pool pays all of the treasury (the tick's emission) to
        // stakers at once.
        assert_close(rewards_paid[i], a, REL, &what("rate = 1 pays the whole emission"));
        assert!(rewards[i].abs() < 1e-6, "{}", what("the treasury is emptied"));
        assert_close(real_yield[i], apr[i] - inflation[i], REL, &what("real_yield = apr − inflation"));
        if t == SLASH_TICK {
            // Rewards were paid on the stake before the slash.
            let before = staked[i] / (1.0 - SLASH_FRACTION);
            assert_close(apr[i], a / before * TICKS_PER_YEAR, 1e-6, &what("apr"));
            let expected = SLASH_FRACTION / (1.0 - SLASH_FRACTION) * (staked[i] + unbonding[i]);
            assert_close(slashed[i], expected, 1e-6, &what("slash takes f of staked and unbonding"));
        } else {
            assert_eq!(slashed[i], 0.0, "{}", what("no slash"));
            assert_close(apr[i], a / staked[i] * TICKS_PER_YEAR, REL, &what("apr = rewards/staked·365"));
        }
    }
    assert!(slashed[SLASH_TICK - 1] > 0.0);
    assert!(unbonding.iter().any(|&u| u > 0.0), "stakers unbond");

    // Snapshots: positions sum to the pool's totals; the supply changes by
    // emissions less burnt slashes; the staking ratio is staked / supply.
    let (a_tick, tkn, stk, unb) =
        (u64s(agents, "tick"), f64s(agents, "tkn"), f64s(agents, "staked"), f64s(agents, "unbonding"));
    assert!(tkn.iter().chain(&stk).chain(&unb).all(|&x| x >= 0.0), "{variant}: negative balance");
    let snapshot = |tick: usize| {
        let rows = (0..a_tick.len()).filter(|&r| a_tick[r] == tick as u64);
        rows.fold((0.0, 0.0, 0.0), |(l, s, u), r| (l + tkn[r], s + stk[r], u + unb[r]))
    };
    let (l0, s0, u0) = snapshot(30);
    let supply_30 = l0 + s0 + u0 + rewards[29];
    for tick in (60..=360).step_by(30) {
        let i = tick - 1;
        let what = |m: &str| format!("{variant}, snapshot at tick {tick}: {m}");
        let (l, s, u) = snapshot(tick);
        assert_close(s, staked[i], REL, &what("Σ staked = total_staked"));
        assert_close(u, unbonding[i], REL, &what("Σ unbonding = total_unbonding"));
        let supply = l + s + u + rewards[i];
        let burnt: f64 = slashed[30..=i].iter().sum();
        assert_close(
            supply,
            supply_30 + total_emitted[i] - total_emitted[29] - burnt,
            REL,
            &what("conservation"),
        );
        assert_close(ratio[i], staked[i] / supply, REL, &what("staking_ratio"));
    }
}

/// One agent with 100 TKN who always stakes everything and unstakes with
/// probability 1/2, on a pool with `unbonding_ticks = 5`.
fn staker_world(seed: u64) -> String {
    format!(
        r#"seed = {seed}
ticks = 12
assets = ["TKN"]
[output]
events = true
[contracts.rewards]
kind = "treasury"
asset = "TKN"
[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "rewards"
rate = 0.0
unbonding_ticks = 5
[populations.one]
count = 1
balances = {{ TKN = 100.0 }}
[populations.one.behaviours.staker]
pool = "staking"
p_stake = 1.0
stake_fraction = 1.0
p_unstake = 0.5
unstake_fraction = 1.0
"#
    )
}

#[test]
fn staker_withdraws_exactly_when_its_unstake_matures() {
    // A seed whose agent 0 does not unstake at tick 1 but does at tick 2,
    // found by replaying the agent's own generator (two draws a tick:
    // stake, then unstake).
    let seed = (1..1000)
        .find(|&s| {
            let mut rng = AgentRng::new(RunSpec::single(s).seed, 0);
            let mut draws = [0.0; 4];
            draws.iter_mut().for_each(|d| *d = rng.0.random::<f64>());
            draws[1] >= 0.5 && draws[3] < 0.5
        })
        .expect("a seed among the first thousand");
    let text = staker_world(seed);
    let scenario = LoadedScenario::from_str(Path::new("staker.toml"), &text).expect("valid scenario");
    let mut sim = Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(seed)).expect("builds");
    let (staked, unbonding) = {
        let slots = sim.slots();
        let find = |n: &str| SlotId(slots.slots.iter().position(|s| s.name == n).unwrap() as u8);
        (find("staked"), find("unbonding"))
    };
    let tkn = SlotId(0);
    let release = 2 + 5;
    let mut withdraws = Vec::new();
    for tick in 1..=release {
        let log = sim.step();
        assert!(log.violations.is_empty(), "tick {tick}: {:?}", log.violations);
        let filled: Vec<(Action, f64)> =
            log.events.iter().filter(|e| e.rejected.is_none()).map(|e| (e.action, e.amount_out)).collect();
        assert!(log.events.iter().all(|e| e.rejected.is_none()), "tick {tick}: nothing is rejected");
        match tick {
            1 => assert_eq!(filled, [(Action::Stake, 100.0)], "tick 1 stakes, no unstake"),
            2 => assert_eq!(filled, [(Action::Unstake, 100.0)], "tick 2 unstakes into unbonding"),
            _ => withdraws.extend(filled.iter().filter(|(a, _)| *a == Action::Withdraw).map(|_| tick)),
        }
        let mut wallet = WalletBuf::default();
        sim.for_each_agent(|_, w| wallet = WalletBuf::from(w));
        let balances = (wallet.get(tkn), wallet.get(staked), wallet.get(unbonding));
        match tick {
            1 => assert_eq!(balances, (0.0, 100.0, 0.0)),
            t if t < release => assert_eq!(balances, (0.0, 0.0, 100.0), "tick {t}: still unbonding"),
            _ => assert_eq!(balances, (100.0, 0.0, 0.0), "tick {tick}: released"),
        }
    }
    assert_eq!(withdraws, [release], "one successful withdraw, exactly at tick 2 + unbonding_ticks");
}

fn build_error(text: &str) -> String {
    let scenario = LoadedScenario::from_str(Path::new("bad.toml"), text).expect("parses");
    match Simulation::validate(&scenario, &Registry::builtin(), &RunSpec::single(1)) {
        Ok(_) => panic!("must be rejected:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn pools_paying_from_their_own_stake_and_bad_schedules_are_rejected() {
    let base = staker_world(1);
    let own = replace_once(&base, "treasury = \"rewards\"", "treasury = \"staking\"");
    let err = build_error(&own);
    assert!(err.contains("contracts.staking.treasury") && err.contains("backing"), "{err}");

    let slash_self = replace_once(&base, "unbonding_ticks = 5", "slash_to = \"staking\"");
    assert!(build_error(&slash_self).contains("contracts.staking.slash_to"));
    let fraction = replace_once(&base, "unbonding_ticks = 5", "slash_fraction = 1.5");
    assert!(build_error(&fraction).contains("slash_fraction"));

    let emission = |extra: &str| {
        replace_once(
            &base,
            "[contracts.staking]",
            &format!(
                "[contracts.emission]\nkind = \"emission\"\ntoken = \"TKN\"\nrecipient = \"rewards\"\namount = 10.0\n{extra}\n[contracts.staking]"
            ),
        )
    };
    for (extra, field) in [
        ("schedule = \"exponential\"", "decay"),
        ("schedule = \"exponential\"\ndecay = 1.5", "decay"),
        ("schedule = \"halving\"\nhalving_ticks = 0", "halving_ticks"),
        ("decay = 0.1", "decay"),
        ("schedule = \"linear\"", "schedule"),
        ("start_tick = 0", "start_tick"),
        ("max_supply = -1.0", "max_supply"),
    ] {
        let err = build_error(&emission(extra));
        assert!(err.contains(&format!("contracts.emission.{field}")), "`{extra}` names {field}: {err}");
    }
    // The valid forms build.
    for extra in ["", "schedule = \"halving\"\nhalving_ticks = 30\nmax_supply = 100.0"] {
        let text = emission(extra);
        let scenario = LoadedScenario::from_str(Path::new("ok.toml"), &text).unwrap();
        assert!(
            Simulation::validate(&scenario, &Registry::builtin(), &RunSpec::single(1)).is_ok(),
            "{extra}"
        );
    }
}

#[test]
fn market_output_is_unchanged_by_the_new_staking_defaults() {
    // The new parameters at their defaults, spelt out, give the same bytes
    // as the shipped market scenario, which names none of them.
    let dir = tempdir();
    let text = small_market(2000, 30, 10);
    let explicit = replace_once(
        &text,
        "position = \"staked\"",
        "position = \"staked\"\nunbonding_ticks = 0\nslash_ticks = []\nslash_probability = 0.0\nslash_fraction = 0.0\nticks_per_year = 365",
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_ok(&write_file(dir.path(), "a.toml", &text), &a, &["--events"]);
    run_ok(&write_file(dir.path(), "b.toml", &explicit), &b, &["--events"]);
    for f in ["ticks.parquet", "events.parquet", "agents.parquet"] {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap();
        assert!(read(&a) == read(&b), "{f} differs");
    }
    // And the staker never sends a withdraw to a pool without unbonding.
    let events = read_parquet(&a.join("events.parquet"));
    assert!(strings(&events, "action").iter().all(|a| a != "withdraw"));
}

/// Two pools of one token, one of which burns a slash at tick 2: both
/// report the token's issuance by any contract (the emission's mint over
/// the supply at Observe), the same value, whichever pool slashed.
#[test]
fn pools_sharing_a_token_report_the_same_inflation() {
    let text = r#"
ticks = 3
assets = ["TKN"]
[contracts.emission]
kind = "emission"
token = "TKN"
recipient = "rewards"
schedule = "constant"
amount = 1000.0
[contracts.rewards]
kind = "treasury"
asset = "TKN"
[contracts.pool_a]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "rewards"
rate = 1.0
slash_ticks = [2]
slash_fraction = 0.1
[contracts.pool_b]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "rewards"
rate = 0.0
position = "staked_b"
[populations.holders]
count = 2
balances = { TKN = 1000.0 }
[orders]
file = "orders.csv"
"#;
    let dir = tempdir();
    write_file(
        dir.path(),
        "orders.csv",
        "tick,agent_id,side,amount,contract\n1,0,stake,500,pool_a\n1,1,stake,500,pool_b\n",
    );
    let scenario = write_file(dir.path(), "two_pools.toml", text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    // By hand: supply at Observe 2000, then 3000 (+1000 minted), then
    // 4000 − 50 (pool_a's stake of 500 slashed by 10 % and burnt).
    // Rewards are paid into liquid TKN, so the stake slashed is still 500.
    let slash = 0.1 * 500.0;
    let supply = [2000.0, 3000.0, 4000.0 - slash];
    let expected: Vec<f64> = supply.iter().map(|s| 1000.0 / s * TICKS_PER_YEAR).collect();
    for column in ["pool_a_inflation", "pool_b_inflation", "emission_inflation"] {
        let got = f64s(&ticks, column);
        for t in 0..3 {
            assert_close(got[t], expected[t], REL, &format!("{column}, tick {}", t + 1));
        }
    }
    assert_close(f64s(&ticks, "pool_a_slashed")[1], slash, REL, "pool_a slashes its stake");
}
