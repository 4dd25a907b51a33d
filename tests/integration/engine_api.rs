//! The engine facilities mechanisms build on: price feeds and the Observe
//! phase's prices, the `Market` view behaviours read, contracts sending
//! their own orders, positions held from genesis, and the recorded
//! topology.

use std::path::Path;

use bevy_ecs::prelude::Component;
use tokensim::engine::topology::{EdgeKind, Way};
use tokensim::prelude::*;

use super::common::*;

/// A scenario with a feed and a curve; `feed` is the feed's TOML body.
fn feed_scenario(feed: &str) -> String {
    format!(
        r#"
ticks = 6
assets = ["DAI", "TKN"]
[contracts.feed]
kind = "price_feed"
{feed}
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
treasury = "pool"
"#
    )
}

#[test]
fn a_replayed_feed_publishes_the_file_values_with_shocks() {
    let dir = tempdir();
    write_file(dir.path(), "prices.csv", "tick,price\n0,100\n2,110\n4,90\n");
    let text =
        feed_scenario("process = \"replay\"\nfile = \"prices.csv\"\nshocks = [{ tick = 5, factor = 0.5 }]");
    let scenario = write_file(dir.path(), "s.toml", &text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    // Tick 1 holds tick 0's value, ticks 2–3 hold 110, 4 holds 90, and the
    // shock halves it from tick 5 on.
    assert_eq!(f64s(&ticks, "feed_price"), vec![100.0, 110.0, 110.0, 90.0, 45.0, 45.0]);
}

#[test]
fn a_feed_replays_a_parquet_series_too() {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;

    let dir = tempdir();
    let schema = Arc::new(Schema::new(vec![
        Field::new("tick", DataType::Int64, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![1, 3, 6])), Arc::new(Float64Array::from(vec![7.0, 8.0, 9.5]))],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("prices.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let scenario =
        write_file(dir.path(), "s.toml", &feed_scenario("process = \"replay\"\nfile = \"prices.parquet\""));
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    assert_eq!(f64s(&ticks, "feed_price"), vec![7.0, 7.0, 8.0, 8.0, 8.0, 9.5]);
}

#[test]
fn feed_parameters_that_do_not_apply_are_errors_at_their_line() {
    let dir = tempdir();
    let text = feed_scenario("process = \"constant\"\ninitial = 5.0\nvolatility = 0.3");
    let scenario = write_file(dir.path(), "s.toml", &text);
    let out = run(&["validate", path_str(&scenario)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let (line, _) = line_col_of(&text, "volatility = 0.3");
    let err = stderr(&out);
    assert!(err.contains(&format!("s.toml:{line}:")), "{err}");
    assert!(err.contains("contracts.feed.volatility") && err.contains("applies to: gbm, merton"), "{err}");
}

#[test]
fn a_bad_series_file_names_the_line() {
    let dir = tempdir();
    write_file(dir.path(), "prices.csv", "tick,price\n1,100\n3,-4\n");
    let text = feed_scenario("process = \"replay\"\nfile = \"prices.csv\"");
    let scenario = write_file(dir.path(), "s.toml", &text);
    let out = run(&["validate", path_str(&scenario)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let err = stderr(&out);
    let range = "must be a finite number in [1e-12, 1e12], got -4";
    assert!(err.contains("contracts.feed.file") && err.contains("line 3") && err.contains(range), "{err}");

    let text = feed_scenario("process = \"replay\"\nfile = \"missing.csv\"");
    let scenario = write_file(dir.path(), "s.toml", &text);
    let err = stderr(&run(&["validate", path_str(&scenario)]));
    assert!(err.contains("missing.csv") && err.contains("does not exist"), "{err}");
}

/// Buys `amount` units on `venue` whenever its `signal` price is above
/// `threshold`: a behaviour whose decision depends only on the Market view.
#[derive(Component)]
struct BuyAbove {
    signal: ContractId,
    venue: ContractId,
    threshold: f64,
}

impl Behaviour for BuyAbove {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        if agent.market.price(self.signal) > self.threshold {
            agent.send(Intent::new(self.venue, Action::Buy, Amount::Units(1.0)));
        }
    }
}

struct BuyAboveKind;

impl BehaviourKind for BuyAboveKind {
    fn name(&self) -> &'static str {
        "buy_above"
    }
    fn summary(&self) -> &'static str {
        "test behaviour"
    }
    fn params(&self) -> &'static [ParamDecl] {
        &[]
    }
    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let signal = ctx.contract_for("signal", "feed", &[])?;
        let venue = ctx.contract_for("venue", "curve", &[Action::Buy])?;
        ctx.spawn(move |_| BuyAbove { signal, venue, threshold: 10.0 });
        Ok(())
    }
}

/// Each tick, spends `per_tick` of its DAI buying on the curve: a contract
/// that sends its own orders. It is also the curve's treasury, so the
/// curve pays its tribute into the very account that is buying.
struct Buyer {
    account: AccountId,
    curve: ContractId,
    per_tick: f64,
}

impl Contract for Buyer {
    fn holds_funds(&self) -> bool {
        true
    }

    fn orders(&mut self, ctx: &OrderCtx<'_>, out: &mut Vec<Intent>) {
        if ctx.ledger.balance(self.account, AssetId(0)) < self.per_tick {
            return;
        }
        out.push(Intent::new(self.curve, Action::Buy, Amount::Units(self.per_tick)));
    }
}

struct BuyerKind;

impl MechanismKind for BuyerKind {
    fn name(&self) -> &'static str {
        "buyer"
    }
    fn summary(&self) -> &'static str {
        "test contract"
    }
    fn params(&self) -> &'static [ParamDecl] {
        &[]
    }
    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let curve = ctx.contract("curve", "curve")?;
        let account = ctx.account();
        ctx.issue(account, AssetId(0), 100.0);
        Ok(Box::new(Buyer { account, curve, per_tick: 10.0 }))
    }
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_mechanism(BuyerKind).add_behaviour(BuyAboveKind);
    r
}

fn load(text: &str) -> LoadedScenario {
    LoadedScenario::from_str(Path::new("inline.toml"), text).expect("scenario parses")
}

#[test]
fn behaviours_see_the_feed_price_of_the_tick() {
    // The feed sits at 5 and triples at tick 3: agents buy from tick 3 on.
    let text = format!(
        "{}\n[populations.p]\ncount = 4\nbalances = {{ DAI = 100.0 }}\nbehaviours.buy_above = {{}}\n[output]\nevents = true\n",
        feed_scenario("process = \"constant\"\ninitial = 5.0\nshocks = [{ tick = 3, factor = 3.0 }]")
    );
    let mut sim = Simulation::new(&load(&text), &registry(), &RunSpec::single(1)).expect("builds");
    let mut buys_per_tick = Vec::new();
    for _ in 0..5 {
        let log = sim.step();
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        buys_per_tick.push(log.events.iter().filter(|e| e.rejected.is_none()).count());
    }
    assert_eq!(buys_per_tick, vec![0, 0, 4, 4, 4]);
}

#[test]
fn a_contract_settles_its_own_orders_against_its_account() {
    let text = r#"
ticks = 5
assets = ["DAI", "TKN"]
[contracts.buyer]
kind = "buyer"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.1
treasury = "buyer"
"#;
    let mut sim = Simulation::new(&load(text), &registry(), &RunSpec::single(1)).expect("builds");
    for _ in 0..5 {
        let log = sim.step();
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        assert_eq!(log.n_tx, 1);
    }
    let ledger = sim.world.resource::<Ledger>();
    // Five buys of 10 DAI, each returning a 10% tribute to the buyer:
    // 100 − 5·10 + 5·1 DAI left; the curve's reserve grew by 5·9.
    let buyer = ledger.find("buyer").unwrap();
    let curve = ledger.find("curve").unwrap();
    assert_close(ledger.balance(buyer, AssetId(0)), 55.0, 1e-12, "buyer DAI");
    let reserve0 = 1e-6 / 2.0 * 1000.0f64 * 1000.0;
    assert_close(ledger.balance(curve, AssetId(0)), reserve0 + 45.0, 1e-12, "curve reserve");
    // The tokens it bought: supply_for(reserve) − 1000, held by the buyer.
    let supply = (2.0 * (reserve0 + 45.0) / 1e-6).sqrt();
    assert_close(ledger.balance(buyer, AssetId(1)), supply - 1000.0, 1e-9, "buyer TKN");
}

#[test]
fn populations_may_start_with_a_backed_position() {
    let text = r#"
ticks = 2
assets = ["DAI", "TKN"]
[contracts.pool]
kind = "treasury"
asset = "DAI"
initial_balance = 1000.0
[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "pool"
rate = 0.01
[populations.stakers]
count = 10
balances = { staked = 50.0 }
"#;
    let mut sim = Simulation::new(&load(text), &Registry::builtin(), &RunSpec::single(1)).expect("builds");
    let log = sim.step();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    let ledger = sim.world.resource::<Ledger>();
    let staking = ledger.find("staking").unwrap();
    assert_eq!(ledger.balance(staking, AssetId(1)), 500.0);
    assert_eq!(ledger.issued[1], 500.0);
    // Each staker got an equal tenth of 1% of the pool.
    sim.for_each_agent(|_, w| assert_close(w.get(AssetId(0)), 1.0, 1e-12, "reward"));
}

#[test]
fn a_position_without_backing_cannot_be_a_starting_balance() {
    let dir = tempdir();
    let text =
        replace_once(&small_market(5, 3, 0), "balances = { DAI = 1000.0 }", "balances = { nothing = 1.0 }");
    let scenario = write_file(dir.path(), "s.toml", &text);
    let err = stderr(&run(&["validate", path_str(&scenario)]));
    assert!(err.contains("unknown asset or position `nothing`") && err.contains("DAI, TKN, staked"), "{err}");
}

#[test]
fn the_topology_of_market_lists_its_parts_and_relations() {
    let loaded = LoadedScenario::load(&shipped_scenario("market.toml")).unwrap();
    let sim = Simulation::validate(&loaded, &Registry::builtin(), &RunSpec::single(1)).unwrap();
    let t = sim.topology();
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["funding_pool", "curve", "hatch", "staking", "traders"]);
    let has = |from: &str, to: &str, kind: EdgeKind| {
        t.edges.iter().any(|e| e.from == from && e.to == to && e.kind == kind)
    };
    assert!(has("curve", "DAI", EdgeKind::Asset) && has("curve", "TKN", EdgeKind::Asset));
    assert!(has("curve", "funding_pool", EdgeKind::Reference) && has("curve", "hatch", EdgeKind::Reference));
    assert!(has("staking", "staked", EdgeKind::Position));
    assert!(has("traders", "curve", EdgeKind::Acts) && has("traders", "staking", EdgeKind::Acts));
    let acts: Vec<&str> =
        t.edges.iter().filter(|e| e.kind == EdgeKind::Acts).map(|e| e.label.as_str()).collect();
    // One relation per way the principal moves: a trade both ways, a stake
    // into the pool, an unstake out of it.
    assert_eq!(acts, vec!["noise_trader: buy, sell", "staker: stake", "staker: unstake"]);
    let way = |from: &str, to: &str| {
        let e =
            t.edges.iter().find(|e| e.from == from && e.to == to && e.kind == EdgeKind::Reference).unwrap();
        e.moves.as_ref().map(|m| (m.way, m.what.as_str(), m.asset.as_str()))
    };
    // The curve pays tributes in its reserve; the pool's treasury pays
    // rewards into the stakers' wallets.
    assert_eq!(way("curve", "funding_pool"), Some((Way::Forward, "tributes", "DAI")));
    assert_eq!(way("staking", "funding_pool"), Some((Way::ToUsers, "rewards", "DAI")));
}

#[test]
fn a_behaviour_that_reads_a_price_must_name_a_contract_with_one() {
    let dir = tempdir();
    let text = format!(
        "{}\n[populations.p]\ncount = 2\nbalances = {{ DAI = 10.0 }}\n\
         behaviours.trend_follower = {{ venue = \"curve\", signal = \"pool\" }}\n",
        feed_scenario("process = \"constant\"\ninitial = 5.0")
    );
    let scenario = write_file(dir.path(), "s.toml", &text);
    let out = run(&["validate", path_str(&scenario)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("trend_follower.signal"), "{err}");
    assert!(err.contains("`pool` (treasury) has no price; contracts with one: feed, curve"), "{err}");
}

#[test]
fn an_oracle_must_have_a_price_even_when_defined_later() {
    let dir = tempdir();
    let text = r#"
ticks = 2
assets = ["ETH", "USDC"]
[contracts.market]
kind = "lending_market"
collateral = "ETH"
debt = "USDC"
oracle = "vault"
max_ltv = 0.5
liquidation_threshold = 0.6
[contracts.vault]
kind = "treasury"
asset = "USDC"
[contracts.feed]
kind = "price_feed"
process = "constant"
initial = 2000.0
"#;
    let scenario = write_file(dir.path(), "s.toml", text);
    let out = run(&["validate", path_str(&scenario)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let (line, _) = line_col_of(text, "oracle = \"vault\"");
    let err = stderr(&out);
    assert!(err.contains(&format!("s.toml:{line}:")) && err.contains("contracts.market.oracle"), "{err}");
    assert!(err.contains("`vault` (treasury) has no price; contracts with one: feed"), "{err}");
    // Naming the feed, defined after the market, is fine.
    let fixed = write_file(dir.path(), "ok.toml", &text.replace("oracle = \"vault\"", "oracle = \"feed\""));
    let out = run(&["validate", path_str(&fixed)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
}

/// Every resource is an entity in bevy 0.20, and each resource type keeps a
/// sparse array as long as the highest entity index holding it: one
/// created after the agents would cost 4 bytes per agent. Every world
/// (after its first ticks too) must hold its resources below its agents.
#[test]
fn resources_are_created_before_the_agents() {
    use bevy_ecs::prelude::{Entity, With};
    use bevy_ecs::resource::IsResource;
    for name in ["market", "lending_cascade", "amm_arbitrage", "commons_abc", "vesting_unlock"] {
        let loaded = LoadedScenario::load(&shipped_scenario(&format!("{name}.toml"))).unwrap();
        let mut sim = Simulation::new(&loaded, &Registry::builtin(), &RunSpec::single(1)).unwrap();
        sim.step();
        sim.step();
        let highest_resource =
            sim.world.query_filtered::<Entity, With<IsResource>>().iter(&sim.world).map(|e| e.index()).max();
        let lowest_agent = sim
            .world
            .query_filtered::<Entity, With<tokensim::engine::rng::AgentRng>>()
            .iter(&sim.world)
            .map(|e| e.index())
            .min();
        let (Some(r), Some(a)) = (highest_resource, lowest_agent) else {
            panic!("{name}: resources and agents")
        };
        assert!(r < a, "{name}: a resource at entity index {r:?}, agents from {a:?}");
    }
}

/// Agents whose stateless behaviour has the same parameters share one value
/// instead of carrying a component each; they must act exactly as agents
/// that carry their own. Spreading `p_trade` and `p_stake` over a band
/// 1e-13 wide gives every agent its own component and changes no decision
/// (a draw would have to land inside the band), so both runs must end with
/// the same wallets, bit for bit.
#[test]
fn agents_sharing_a_behaviour_act_as_agents_carrying_their_own() {
    use tokensim::behaviours::{noise_trader::NoiseTrader, staker::Staker};
    let shared = replace_once(
        &replace_once(&shipped_scenario_text("market.toml"), "count = 10_000", "count = 3_000"),
        "ticks = 365",
        "ticks = 80",
    );
    let own = replace_once(
        &replace_once(
            &shared,
            "p_trade = 0.1",
            r#"p_trade = { dist = "uniform", low = 0.1, high = 0.1000000000001 }"#,
        ),
        "p_stake = 0.05",
        r#"p_stake = { dist = "uniform", low = 0.05, high = 0.0500000000001 }"#,
    );
    let run = |text: &str| {
        let mut sim =
            Simulation::new(&load(text), &Registry::builtin(), &RunSpec::single(9)).expect("builds");
        while sim.tick() < sim.ticks {
            assert!(sim.step().violations.is_empty());
        }
        let components = (
            sim.world.query::<&NoiseTrader>().iter(&sim.world).count(),
            sim.world.query::<&Staker>().iter(&sim.world).count(),
        );
        let wallets: Vec<u64> =
            sim.wallets().iter().flat_map(|w| w.balances().to_vec()).map(f64::to_bits).collect();
        (components, wallets, sim.bytes_per_agent)
    };
    let ((shared_components, shared_wallets, shared_bytes), (own_components, own_wallets, own_bytes)) =
        (run(&shared), run(&own));
    // The memory check counts what each agent carries: the components only
    // where they exist.
    let components = std::mem::size_of::<NoiseTrader>() + std::mem::size_of::<Staker>();
    assert_eq!(own_bytes - shared_bytes, components as u128);
    assert_eq!(shared_components, (0, 0), "equal parameters: one shared value, no component per agent");
    assert_eq!(own_components, (3_000, 3_000), "spread parameters: a component per agent");
    assert_eq!(shared_wallets.len(), own_wallets.len());
    assert!(shared_wallets == own_wallets, "the same run either way");
    // And the run did something: trades and stakes moved the wallets.
    let start = 1000.0f64.to_bits();
    assert!(shared_wallets.iter().step_by(3).filter(|&&b| b != start).count() > 2_000);
}

/// A Decide pass walks a chunk of consecutive agents as slices and any
/// other chunk agent by agent. Populations `a` and `c` below share one
/// table (the same components) with `b` between them in id order, so a
/// chunk holds the end of `a` and the start of `c`: it must act exactly as
/// when `c` has a table of its own (its parameter spread over a band too
/// narrow to change a decision gives it components), bit for bit.
#[test]
fn a_chunk_spanning_two_populations_acts_as_tables_of_their_own() {
    let market = shipped_scenario_text("market.toml");
    let head = &market[..market.find("[populations.traders]").expect("market's population")];
    let scenario = |p_trade_c: &str| {
        let population = |name: &str, count: usize, behaviour: &str| {
            format!("[populations.{name}]\ncount = {count}\nbalances = {{ DAI = 1000.0 }}\n{behaviour}\n")
        };
        let noise = |name: &str, p: &str| {
            format!("[populations.{name}.behaviours.noise_trader]\ncontract = \"curve\"\np_trade = {p}\n")
        };
        let staker =
            "[populations.b.behaviours.staker]\npool = \"staking\"\np_stake = 0.05\np_unstake = 0.02\n";
        let text = format!(
            "{head}{}{}{}",
            population("a", 5_000, &noise("a", "0.1")),
            population("b", 3_000, staker),
            population("c", 5_000, &noise("c", p_trade_c)),
        );
        replace_once(&text, "ticks = 365", "ticks = 40")
    };
    let run = |text: &str| {
        let mut sim =
            Simulation::new(&load(text), &Registry::builtin(), &RunSpec::single(5)).expect("builds");
        while sim.tick() < sim.ticks {
            assert!(sim.step().violations.is_empty());
        }
        let own =
            sim.world.query::<&tokensim::behaviours::noise_trader::NoiseTrader>().iter(&sim.world).count();
        let wallets: Vec<u64> =
            sim.wallets().iter().flat_map(|w| w.balances().to_vec()).map(f64::to_bits).collect();
        (own, wallets)
    };
    let (shared_own, shared) = run(&scenario("0.1"));
    let (spread_own, spread) = run(&scenario(r#"{ dist = "uniform", low = 0.1, high = 0.1000000000001 }"#));
    assert_eq!((shared_own, spread_own), (0, 5_000), "c shares a's table only in the first run");
    assert!(shared == spread, "the same run either way");
    // Both noise populations traded: DAI (slot 0) moved in a and in c.
    let start = 1000.0f64.to_bits();
    let moved = |ids: std::ops::Range<usize>| ids.filter(|&i| shared[3 * i] != start).count();
    assert!(moved(0..5_000) > 3_000 && moved(8_000..13_000) > 3_000);
}
