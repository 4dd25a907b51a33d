//! Vesting, the treasury's buy-back, the vested holder and the whale: the
//! shipped `vesting_unlock` scenario conserves every asset and follows the
//! vesting schedules, and the two behaviours make decisions known in
//! advance in small worlds.

use std::path::Path;

use tokensim::engine::phase::EventRow;
use tokensim::mechanisms::vesting::Schedule;
use tokensim::prelude::*;

use super::common::*;

const REL: f64 = 1e-9;

/// Builds a simulation from scenario text.
fn simulation(text: &str) -> Simulation {
    let sc = LoadedScenario::from_str(Path::new("inline.toml"), text).expect("scenario parses");
    Simulation::new(&sc, &Registry::builtin(), &RunSpec::single(5)).expect("scenario builds")
}

/// Steps `sim` to its end and returns every tick's events, with the tick.
fn all_events(sim: &mut Simulation) -> Vec<(u32, EventRow)> {
    let mut out = Vec::new();
    while sim.tick() < sim.ticks {
        let tick = sim.tick() + 1;
        let log = sim.step();
        assert!(log.violations.is_empty(), "violations: {:?}", log.violations);
        out.extend(log.events.iter().map(|e| (tick, *e)));
    }
    out
}

#[test]
fn vesting_unlock_conserves_and_follows_the_schedules() {
    const TICKS: u32 = 365;
    const EVERY: u32 = 73;
    let (hatch, slope, traders, dai_each) = (10_000_000.0, 1e-7, 1000.0, 1000.0);
    let (team, investors) = (20.0 * 50_000.0, 30.0 * 20_000.0);
    let team_schedule = Schedule { start: 0, cliff: 180, duration: 360 };
    let investor_schedule = Schedule { start: 0, cliff: 60, duration: 180 };

    let dir = tempdir();
    let text = replace_once(
        &shipped_scenario_text("vesting_unlock.toml"),
        "ticks = 365",
        &format!("ticks = {TICKS}\nsnapshot_every = {EVERY}"),
    );
    let scenario = write_file(dir.path(), "vesting_unlock.toml", &text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--parts", "1"]);
    assert!(!out.join("violations.parquet").exists(), "no invariant may break");
    let m = manifest(&out);
    assert_eq!(m["violations"], 0);
    assert_eq!(m["rejected"], 0, "vested holders never oversell");

    let runs = read_parquet(&out.join("runs.parquet"));
    assert_eq!(strings(&runs, "variant"), ["hold", "sell", "sell_buyback"]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let agents = read_parquet(&out.join("agents.parquet"));
    let (run_id, tick) = (u64s(&ticks, "run_id"), u64s(&ticks, "tick"));
    let (supply, price) = (f64s(&ticks, "supply"), f64s(&ticks, "price"));
    let (team_locked, inv_locked) = (f64s(&ticks, "team_locked"), f64s(&ticks, "investor_locked"));
    let (team_unlocked, inv_unlocked) = (f64s(&ticks, "team_unlocked"), f64s(&ticks, "investor_unlocked"));
    let (treasury, burnt) = (f64s(&ticks, "treasury_dai"), f64s(&ticks, "burnt_tkn"));
    let bought = f64s(&ticks, "bought_back_dai");
    let (a_run, a_tick) = (u64s(&agents, "run_id"), u64s(&agents, "tick"));
    let (a_dai, a_tkn) = (f64s(&agents, "dai"), f64s(&agents, "tkn"));
    let (a_team, a_inv) = (f64s(&agents, "team_locked"), f64s(&agents, "investor_locked"));

    for run in 0..3u64 {
        let rows: Vec<usize> = (0..ticks.num_rows()).filter(|&i| run_id[i] == run).collect();
        assert_eq!(rows.len(), TICKS as usize);
        let mut burnt_so_far = 0.0;
        let mut sold_out = [0.0, 0.0];
        for &i in &rows {
            let t = tick[i] as u32;
            let what = format!("run {run} tick {t}");
            burnt_so_far += burnt[i];
            // The schedules, from the closed form written here.
            let (ft, fi) = (team_schedule.unlocked_fraction(t), investor_schedule.unlocked_fraction(t));
            let prev = |s: &Schedule| s.unlocked_fraction(t - 1);
            assert_close(team_locked[i], team * (1.0 - ft), REL, &format!("team locked, {what}"));
            assert_close(inv_locked[i], investors * (1.0 - fi), REL, &format!("investor locked, {what}"));
            assert_close(team_unlocked[i], team * (ft - prev(&team_schedule)), REL, &what);
            assert_close(inv_unlocked[i], investors * (fi - prev(&investor_schedule)), REL, &what);
            sold_out[0] += team_unlocked[i];
            sold_out[1] += inv_unlocked[i];
            assert_close(price[i], slope * supply[i], REL, &format!("curve price, {what}"));
            if run < 2 {
                assert_eq!((bought[i], burnt[i]), (0.0, 0.0), "no buy-back without the policy, {what}");
            }
            // Conservation from the snapshots: every TKN is the curve's
            // net mint plus the allocations, less what was burnt; every DAI
            // is the traders' plus the initial reserve.
            if t.is_multiple_of(EVERY) {
                let snap: Vec<usize> = (0..agents.num_rows())
                    .filter(|&k| a_run[k] == run && a_tick[k] == u64::from(t))
                    .collect();
                assert_eq!(snap.len(), 1050, "{what}");
                let sum = |v: &[f64]| snap.iter().map(|&k| v[k]).sum::<f64>();
                let reserve = slope / 2.0 * supply[i] * supply[i];
                assert_close(
                    sum(&a_dai) + reserve + treasury[i],
                    traders * dai_each + slope / 2.0 * hatch * hatch,
                    REL,
                    &format!("DAI conservation, {what}"),
                );
                assert_close(
                    sum(&a_tkn) + sum(&a_team) + sum(&a_inv) + hatch,
                    supply[i] + team + investors - burnt_so_far,
                    REL,
                    &format!("TKN conservation, {what}"),
                );
                assert_close(sum(&a_team), team_locked[i], REL, &format!("team backing, {what}"));
                assert_close(sum(&a_inv), inv_locked[i], REL, &format!("investor backing, {what}"));
                assert!(snap.iter().all(|&k| a_dai[k] >= 0.0 && a_tkn[k] >= 0.0), "{what}");
            }
        }
        assert_close(sold_out[0], team, REL, "the whole team allocation unlocks");
        assert_close(sold_out[1], investors, REL, "the whole investor allocation unlocks");
        if run == 2 {
            assert!(burnt_so_far > 0.0, "the buy-back variant burns tokens");
        }
    }
    // Same random numbers: before the first unlock is sold (tick 61) the
    // variants without buy-back trade identically; selling more lowers the
    // price after the cliffs.
    let at = |run: u64, t: u64| (0..ticks.num_rows()).find(|&i| run_id[i] == run && tick[i] == t).unwrap();
    assert_eq!(price[at(0, 60)], price[at(1, 60)]);
    assert!(price[at(1, 61)] < price[at(0, 61)], "the investors' cliff sale moves the price");
    assert!(price[at(1, 181)] < price[at(0, 181)], "the team's cliff sale moves the price");
}

/// One holder with `alloc` locked TKN vesting over `duration` ticks after a
/// `cliff`, who sells `sell_fraction` of each unlock on a curve.
fn holder_world(alloc: f64, cliff: u32, duration: u32, sell_fraction: f64, p_sell: f64) -> Simulation {
    simulation(&format!(
        r#"
ticks = {ticks}
assets = ["DAI", "TKN"]
output = {{ events = true }}
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
[contracts.vest]
kind = "vesting"
token = "TKN"
position = "locked"
cliff_ticks = {cliff}
duration_ticks = {duration}
[populations.team]
count = 1
balances = {{ locked = {alloc} }}
behaviours.vested_holder = {{ position = "locked", venue = "curve", sell_fraction = {sell_fraction}, p_sell = {p_sell} }}
"#,
        ticks = duration + 3
    ))
}

#[test]
fn vested_holder_sells_its_share_of_each_unlock_the_next_tick() {
    let (alloc, cliff, duration, sf) = (1000.0, 3, 10, 0.5);
    let schedule = Schedule { start: 0, cliff, duration };
    let mut sim = holder_world(alloc, cliff, duration, sf, 1.0);
    let events = all_events(&mut sim);
    // Unlock at tick T (end of the tick) ⇒ a sale of sf · unlock at T + 1.
    let expected: Vec<(u32, f64)> = (2..=duration + 3)
        .filter_map(|t| {
            let unlocked = alloc * (schedule.unlocked_fraction(t - 1) - schedule.unlocked_fraction(t - 2));
            (unlocked > 0.0).then_some((t, sf * unlocked))
        })
        .collect();
    assert_eq!(expected.first().map(|e| e.0), Some(cliff + 1), "first sale the tick after the cliff");
    assert_eq!(expected.last().map(|e| e.0), Some(duration + 1));
    assert_eq!(events.len(), expected.len(), "{events:?}");
    for ((tick, e), (t, q)) in events.iter().zip(&expected) {
        assert_eq!(tick, t);
        assert_eq!((e.agent, e.action, e.rejected), (AgentId(0), Action::Sell, None));
        assert_close(e.amount_in, *q, REL, &format!("sale at tick {t}"));
    }
    // It kept the rest: alloc · (1 − sf) liquid at the end.
    let mut liquid = 0.0;
    sim.for_each_agent(|_, w| liquid = w.get(AssetId(1)));
    assert_close(liquid, alloc * (1.0 - sf), REL, "tokens kept");
}

#[test]
fn vested_holder_selling_everything_never_overdraws() {
    // A duration whose shares do not round exactly: selling 100% of each
    // unlock must be capped by the liquid balance, never rejected.
    let mut sim = holder_world(1234.5678, 0, 7, 1.0, 1.0);
    let events = all_events(&mut sim);
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|(_, e)| e.rejected.is_none()), "{events:?}");
    let sold: f64 = events.iter().map(|(_, e)| e.amount_in).sum();
    assert_close(sold, 1234.5678, REL, "sold the whole allocation");
}

#[test]
fn vested_holder_with_p_sell_zero_never_sells() {
    let mut sim = holder_world(1000.0, 0, 5, 1.0, 0.0);
    assert!(all_events(&mut sim).is_empty());
}

fn whale_world(whale: &str) -> Simulation {
    simulation(&format!(
        r#"
ticks = 10
assets = ["DAI", "TKN"]
output = {{ events = true }}
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
[populations.whale]
count = 1
balances = {{ DAI = 1000.0, TKN = 500.0 }}
behaviours.whale = {{ venue = "curve", {whale} }}
"#
    ))
}

#[test]
fn whale_dumps_its_fraction_once() {
    let mut sim = whale_world("mode = \"dump\", tick = 5, fraction = 0.3");
    let events = all_events(&mut sim);
    assert_eq!(events.len(), 1, "{events:?}");
    let (tick, e) = events[0];
    assert_eq!((tick, e.action, e.rejected), (5, Action::Sell, None));
    assert_close(e.amount_in, 150.0, REL, "30% of 500 TKN");
    let mut w = WalletBuf::default();
    sim.for_each_agent(|_, wallet| w = WalletBuf::from(wallet));
    assert_close(w.get(AssetId(1)), 350.0, REL, "keeps the rest");
    assert_close(w.get(AssetId(0)), 1000.0 + e.amount_out, REL, "receives the proceeds");
}

#[test]
fn whale_pumps_then_dumps_everything() {
    let mut sim = whale_world("mode = \"pump_and_dump\", tick = 3, dump_tick = 7, fraction = 0.5");
    let events = all_events(&mut sim);
    assert_eq!(events.len(), 2, "{events:?}");
    let ((t_buy, buy), (t_sell, sell)) = (events[0], events[1]);
    assert_eq!((t_buy, buy.action, buy.rejected), (3, Action::Buy, None));
    assert_close(buy.amount_in, 500.0, REL, "half its DAI");
    // Linear curve: 500 DAI buys sqrt(S0² + 2·500/m) − S0 tokens.
    let minted = (1e12f64 + 2.0 * 500.0 / 1e-6).sqrt() - 1e6;
    assert_close(buy.amount_out, minted, REL, "tokens bought");
    assert_eq!((t_sell, sell.action, sell.rejected), (7, Action::Sell, None));
    assert_close(sell.amount_in, 500.0 + minted, REL, "sells its whole token balance");
}

#[test]
fn bad_whale_and_holder_parameters_are_errors_at_their_line() {
    let dir = tempdir();
    for (behaviour, field) in [
        ("whale = { venue = \"curve\", mode = \"rug\", tick = 2, fraction = 0.5 }", "mode"),
        (
            "whale = { venue = \"curve\", mode = \"dump\", tick = 2, dump_tick = 4, fraction = 0.5 }",
            "dump_tick",
        ),
        (
            "whale = { venue = \"curve\", mode = \"pump_and_dump\", tick = 4, dump_tick = 4, fraction = 0.5 }",
            "dump_tick",
        ),
        ("whale = { venue = \"curve\", mode = \"dump\", tick = 0, fraction = 0.5 }", "tick"),
        ("whale = { venue = \"curve\", mode = \"dump\", tick = 2, fraction = 1.5 }", "fraction"),
        ("vested_holder = { position = \"DAI\", venue = \"curve\", sell_fraction = 0.5 }", "position"),
        ("vested_holder = { position = \"locked\", venue = \"vest\", sell_fraction = 0.5 }", "venue"),
    ] {
        let text = format!(
            "ticks = 2\nassets = [\"DAI\", \"TKN\"]\n[contracts.curve]\nkind = \"bonding_curve\"\n\
             reserve_asset = \"DAI\"\ntoken = \"TKN\"\nslope = 1e-6\n[contracts.vest]\nkind = \"vesting\"\n\
             token = \"TKN\"\nposition = \"locked\"\ncliff_ticks = 0\nduration_ticks = 2\n\
             [populations.p]\ncount = 1\nbehaviours.{behaviour}\n"
        );
        let path = write_file(dir.path(), "bad.toml", &text);
        let out = run(&["validate", path_str(&path)]);
        assert_eq!(code(&out), 2, "{behaviour}: {}", describe(&out));
        let (line, _) = line_col_of(&text, "behaviours.");
        let err = stderr(&out);
        assert!(err.contains(&format!("bad.toml:{line}:")) && err.contains(field), "{behaviour}: {err}");
    }
}
