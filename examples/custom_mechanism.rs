//! Your own mechanism and behaviour, next to the built-in ones.
//!
//! A `faucet` contract pays a fixed drip of an asset to whoever claims, until
//! it runs dry; a `dip_buyer` behaviour claims from the faucet every tick and
//! buys on a venue whenever the venue's price is below its limit. Both
//! register through the same `Registry` API the built-ins use, so a
//! scenario names them like any other kind, with located errors for bad
//! parameters, and the engine checks conservation every tick.
//!
//!     cargo run --example custom_mechanism

use std::path::Path;

use bevy_ecs::prelude::Component;
use serde::Deserialize;
use tokensim::experiment::{RunOptions, Silent, run_experiment};
use tokensim::prelude::*;

/// Pays `drip` of `asset` from its own account to each claimant.
struct Faucet {
    account: AccountId,
    asset: AssetId,
    drip: f64,
    claims: u64,
}

const FAUCET_METRICS: &[MetricDef] = &[
    MetricDef { name: "balance", kind: MetricKind::Float, doc: "what is left to pay out" },
    MetricDef { name: "claims", kind: MetricKind::Count, doc: "claims paid this tick" },
];

impl Contract for Faucet {
    fn accepts(&self) -> &'static [Action] {
        &[Action::Withdraw]
    }

    fn settle(&mut self, _tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let left = ctx.ledger.balance(self.account, self.asset);
        if left < self.drip {
            return Settlement::Rejected("faucet empty");
        }
        // The drip moves from the faucet's account to the sender's wallet.
        *ctx.ledger.balance_mut(self.account, self.asset) = left - self.drip;
        *ctx.wallet.get_mut(self.asset) += self.drip;
        self.claims += 1;
        Settlement::Filled(Fill { amount_in: 0.0, amount_out: self.drip, fee: 0.0 })
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.claims = 0;
    }

    fn metrics(&self) -> &'static [MetricDef] {
        FAUCET_METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Vec<f64>) {
        out.extend([ledger.balance(self.account, self.asset), self.claims as f64]);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaucetParams {
    asset: String,
    supply: f64,
    drip: f64,
}

/// The `faucet` kind: parameters → a `Faucet`.
struct FaucetKind;

impl MechanismKind for FaucetKind {
    fn name(&self) -> &'static str {
        "faucet"
    }

    fn summary(&self) -> &'static str {
        "Pays a fixed drip to each claimant until it runs dry."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "asset", ty: "asset name", default: None, doc: "what it pays" },
            ParamDoc {
                name: "supply",
                ty: "float >= 0",
                default: None,
                doc: "created in its account at genesis",
            },
            ParamDoc { name: "drip", ty: "float > 0", default: None, doc: "paid per claim" },
        ]
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p: FaucetParams = ctx.params()?;
        let asset = ctx.asset("asset", &p.asset)?;
        ctx.check_range("supply", p.supply, 0.0, f64::MAX)?;
        ctx.check_range("drip", p.drip, f64::MIN_POSITIVE, f64::MAX)?;
        let account = ctx.account();
        ctx.issue(account, asset, p.supply);
        Ok(Box::new(Faucet { account, asset, drip: p.drip, claims: 0 }))
    }
}

/// Claims from the faucet every tick, and buys on the venue with a
/// fraction of its quote while the price is below its limit.
#[derive(Component)]
struct DipBuyer {
    faucet: ContractId,
    venue: ContractId,
    limit: f64,
    fraction: f64,
}

impl Behaviour for DipBuyer {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        agent.send(Intent::new(self.faucet, Action::Withdraw, Amount::Units(0.0)));
        if agent.market.price(self.venue) < self.limit {
            agent.send(Intent::new(self.venue, Action::Buy, Amount::Fraction(self.fraction)));
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DipBuyerParams {
    faucet: String,
    venue: String,
    limit: AgentParam,
    fraction: AgentParam,
}

/// The `dip_buyer` kind: parameters → one `DipBuyer` per agent.
struct DipBuyerKind;

impl BehaviourKind for DipBuyerKind {
    fn name(&self) -> &'static str {
        "dip_buyer"
    }

    fn summary(&self) -> &'static str {
        "Claims from a faucet and buys while the venue's price is below a limit."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "faucet", ty: "contract name", default: None, doc: "where it claims" },
            ParamDoc { name: "venue", ty: "contract name", default: None, doc: "where it buys" },
            ParamDoc {
                name: "limit",
                ty: "per-agent param > 0",
                default: None,
                doc: "highest price it pays",
            },
            ParamDoc {
                name: "fraction",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "of its quote per buy",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: DipBuyerParams = ctx.params()?;
        let faucet = ctx.contract_for("faucet", &p.faucet, &[Action::Withdraw])?;
        let venue = ctx.contract_for("venue", &p.venue, &[Action::Buy])?;
        ctx.check_param("limit", &p.limit, f64::MIN_POSITIVE, f64::MAX)?;
        ctx.check_param("fraction", &p.fraction, 0.0, 1.0)?;
        ctx.spawn(|rng| DipBuyer {
            faucet,
            venue,
            limit: p.limit.0.sample(rng),
            fraction: p.fraction.0.sample(rng),
        });
        Ok(())
    }
}

const SCENARIO: &str = r#"
name = "faucet_dips"
ticks = 30
assets = ["DAI", "TKN"]

[contracts.faucet]
kind = "faucet"
asset = "DAI"
supply = 50_000.0
drip = 10.0

[contracts.pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
entry_tribute = 0.01
treasury = "pool"

[populations.buyers]
count = 200
balances = { DAI = 100.0 }
behaviours.dip_buyer = { faucet = "faucet", venue = "curve", limit = { dist = "uniform", low = 1.0, high = 1.2 }, fraction = 0.5 }
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::builtin();
    registry.add_mechanism(FaucetKind).add_behaviour(DipBuyerKind);
    let scenario = LoadedScenario::from_str(Path::new("faucet_dips.toml"), SCENARIO)?;

    // Step it yourself...
    let mut sim = Simulation::new(&scenario, &registry, &RunSpec::single(1))?;
    let column = |name: &str| sim.metric_columns.iter().position(|c| c.name == name).expect(name);
    let (balance, price) = (column("faucet_balance"), column("curve_price"));
    while sim.tick() < sim.ticks {
        let log = sim.step();
        assert!(log.violations.is_empty(), "{:?}", log.violations);
        if sim.tick() % 5 == 0 {
            let log = sim.log();
            println!(
                "tick {:>2}: faucet {:>8.0} DAI left, price {:.4}, {} transactions, {} rejected",
                sim.tick(),
                log.metrics[balance],
                log.metrics[price],
                log.n_tx,
                log.n_rejected
            );
        }
    }

    // ...or run it as an experiment into a Parquet dataset.
    let dir = std::env::temp_dir().join("tokensim-faucet-example");
    let opts = RunOptions { force: true, ..RunOptions::new(dir.clone()) };
    let summary = run_experiment(&scenario, &registry, &opts, &Silent)?;
    println!("{} run(s) written to {}", summary.manifest.runs, summary.out_dir.display());
    Ok(())
}
